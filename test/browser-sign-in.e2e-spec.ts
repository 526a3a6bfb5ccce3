import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { BrowserSessions } from '../src/auth/browser-session';
import { AccountLeaser } from '../src/token-pool/account-leaser';
import { PoolAdmin } from '../src/token-pool/pool-admin';
import { FakeClock } from '../src/token-pool/testing/fake-clock';
import { FakeUpstream } from './fake-upstream/fake-upstream';
import { APP_SCRIPT, FETCHER_NETWORK } from './fake-upstream/web-app';
import { Stack, startStack } from './support/stack';

jest.setTimeout(120_000);

const ADMIN_KEY = 'admin-key-for-sign-in-tests';
const POOL_KEY = 'pool-key-for-sign-in-tests';
const SESSION_COOKIE = 'flowgpt-session';
const FORM_COOKIE = 'flowgpt-sign-in';

function setCookies(response: request.Response): string[] {
  const header = response.headers['set-cookie'] as unknown as string[] | string | undefined;
  return header === undefined ? [] : Array.isArray(header) ? header : [header];
}

function cookieLine(response: request.Response, name: string): string | undefined {
  return setCookies(response).find((line) => line.startsWith(`${name}=`));
}

function cookiePair(response: request.Response, name: string): string {
  const line = cookieLine(response, name);
  if (!line) throw new Error(`no ${name} cookie in ${JSON.stringify(setCookies(response))}`);
  return line.split(';')[0];
}

function hiddenField(html: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!match) throw new Error(`no ${name} field on the page`);
  return match[1];
}

function errorReason(html: string): string | undefined {
  return /role="alert" data-reason="(\w+)"/.exec(html)?.[1];
}

async function uploadTokens(stack: Stack, tokens: string[]): Promise<void> {
  await request(stack.url).post('/admin/api/tokens').set('Authorization', `Bearer ${ADMIN_KEY}`).send({ tokens }).expect(200);
}

/** Posts the sign-in form as a browser does: with the form's cookie and field, from our own origin. */
async function postSignIn(
  stack: Stack,
  token: string,
  options: { next?: string; headers?: Record<string, string> } = {},
): Promise<request.Response> {
  const form = await request(stack.url).get('/auth/login').expect(200);
  const test = request(stack.url).post('/auth/login').set('Cookie', cookiePair(form, FORM_COOKIE)).set('Origin', stack.url);
  for (const [name, value] of Object.entries(options.headers ?? {})) test.set(name, value);
  return test.type('form').send({ _csrf: hiddenField(form.text, '_csrf'), token, next: options.next ?? '/' });
}

async function signIn(stack: Stack, token: string, options: { headers?: Record<string, string> } = {}): Promise<string> {
  const response = await postSignIn(stack, token, options);
  if (response.status !== 303) throw new Error(`sign-in refused (${response.status}): ${errorReason(response.text)}`);
  return cookiePair(response, SESSION_COOKIE);
}

/** `/api/auth/session` as the web app reads it (empty when signed out). */
interface SessionAnswer {
  accessToken?: string;
  user?: { id: string; name: string; email: string };
}

async function sessionOf(stack: Stack, cookie: string): Promise<SessionAnswer> {
  return (await request(stack.url).get('/api/auth/session').set('Cookie', cookie).expect(200)).body;
}

/** The Fetch Metadata of a top-level navigation the visitor started (`none`: typed, bookmarked) or a page of `site` did. */
function navigationFrom(site: 'none' | 'same-origin' | 'cross-site'): Record<string, string> {
  return { 'Sec-Fetch-Site': site, 'Sec-Fetch-Mode': 'navigate', 'Sec-Fetch-Dest': 'document' };
}

describe('Browser sign-in with ENABLE_GATEWAY off', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.close());

  it.each(['/', '/auth/login', '/auth/logout', '/api/auth/session', '/api/auth/signin?signin=abcdefghij', '/api/auth/providers'])(
    'answers 404 for %s',
    async (path) => {
      const response = await request(stack.url).get(path).expect(404);
      expect(response.body.error.code).toBe('unknown_url');
    },
  );
});

describe('Browser sign-in (AUTO_SEED=true)', () => {
  let stack: Stack;
  let poolToken: string;
  const poolEmail = 'pool-owner@example.com';

  beforeAll(async () => {
    stack = await startStack({ env: { ENABLE_GATEWAY: 'true', ADMIN_KEY, AUTHORIZATION: POOL_KEY, TRUSTED_PROXIES: '127.0.0.1, ::1' } });
    poolToken = stack.fake.createAccessToken({ email: poolEmail });
    await uploadTokens(stack, [poolToken]);
  });
  afterAll(() => stack.close());

  describe('the sign-in page', () => {
    it('is in Chinese by default, with a strict CSP and no cache', async () => {
      const page = await request(stack.url).get('/auth/login').expect(200);
      expect(page.text).toContain('<html lang="zh-CN"');
      expect(page.text).toContain('请输入令牌以登录 FlowGPT。');
      expect(page.headers['content-security-policy']).toContain("script-src 'self'");
      expect(page.headers['cache-control']).toBe('no-store');
      expect(cookieLine(page, FORM_COOKIE)).toMatch(/HttpOnly/);
    });

    it('follows Accept-Language, and a switch is remembered over it', async () => {
      const english = await request(stack.url).get('/auth/login').set('Accept-Language', 'en-US,en;q=0.9,zh;q=0.5').expect(200);
      expect(english.text).toContain('<html lang="en"');
      expect(english.text).toContain('Enter your token to sign in to FlowGPT.');

      const switched = await request(stack.url).get('/auth/login?lang=en&theme=dark').set('Accept-Language', 'zh-CN').expect(200);
      expect(switched.text).toContain('<html lang="en" data-theme="dark"');
      const remembered = await request(stack.url)
        .get('/auth/login')
        .set('Accept-Language', 'zh-CN')
        .set('Cookie', [cookiePair(switched, 'flowgpt-lang'), cookiePair(switched, 'flowgpt-theme')].join('; '))
        .expect(200);
      expect(remembered.text).toContain('<html lang="en" data-theme="dark"');
      expect(remembered.text).toContain('href="/auth/login?lang&#x3D;zh"');
    });

    it('translates the admin pages too', async () => {
      const zh = await request(stack.url).get('/admin/login').expect(200);
      expect(zh.text).toContain('输入管理密钥以管理令牌池。');
      const en = await request(stack.url).get('/admin/login').set('Accept-Language', 'en').expect(200);
      expect(en.text).toContain('Enter the admin secret to manage the token pool.');
    });
  });

  describe('a seed user', () => {
    it('signs in with a new seed, bound to a pool account, and never sees its token or email', async () => {
      const seed = 'my-own-seed-4d1f';
      const response = await postSignIn(stack, seed, { next: '/c/abc' });
      expect(response.status).toBe(303);
      expect(response.headers.location).toBe('/c/abc');
      const line = cookieLine(response, SESSION_COOKIE)!;
      expect(line).toMatch(/HttpOnly/);
      expect(line).toMatch(/SameSite=Lax/);
      expect(line).toMatch(/Path=\//);
      expect(line).toMatch(/Max-Age=259\d{4}/);
      expect(line).not.toMatch(/Secure/);
      expect(line).not.toContain(seed);

      const cookie = line.split(';')[0];
      const session = await sessionOf(stack, cookie);
      expect(session.accessToken).toMatch(/^fgst-/);
      expect(session.user!.email).toMatch(/@users\.flowgpt\.invalid$/);
      expect(session.user!.name).toBe('FlowGPT user');
      const text = JSON.stringify(session);
      for (const secret of [poolToken, poolEmail, seed]) expect(text).not.toContain(secret);

      // The gateway's side of the contract: the stand-in leads to the pool account, server-side only.
      const sessions = stack.app.get(BrowserSessions);
      const resolved = await sessions.fromStandInToken(session.accessToken!);
      expect(resolved?.kind).toBe('seed');
      expect(JSON.stringify(resolved)).not.toContain(seed);
      const account = await sessions.accountFor(resolved!);
      expect(account.accessToken).toBe(poolToken);
      expect(account.privateIdentifiers).toContain(poolEmail);
      expect(await sessions.fromCookie(cookie.split('=')[1])).toEqual(resolved);
    });

    it('is not an API key when it was minted at sign-in, and becomes one once the admin creates it', async () => {
      const seed = 'minted-at-sign-in-5e2a';
      // From an address of its own: sign-ins are throttled per address, and the other tests here sign in too.
      const elsewhere = { headers: { 'X-Forwarded-For': '203.0.113.77' } };
      expect((await postSignIn(stack, seed, elsewhere)).status).toBe(303);
      const chat = () =>
        request(stack.url)
          .post('/v1/chat/completions')
          .set('authorization', `Bearer ${seed}`)
          .send({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
      const refused = await chat();
      expect(refused.status).toBe(401);
      expect(refused.body.error.code).toBe('invalid_api_key');
      await request(stack.url).post('/admin/api/seeds').set('authorization', `Bearer ${ADMIN_KEY}`).send({ seed }).expect(201);
      expect((await chat()).status).toBe(200);
      // Still the same shared user in the browser, on the account it was bound to.
      expect((await postSignIn(stack, seed, elsewhere)).status).toBe(303);
    });

    it('gets a Secure cookie over https through a trusted proxy', async () => {
      const response = await postSignIn(stack, 'seed-over-https-1', { headers: { 'X-Forwarded-Proto': 'https' } });
      expect(response.status).toBe(303);
      expect(cookieLine(response, SESSION_COOKIE)).toMatch(/Secure/);
    });

    it('moves to another active account when its account dies', async () => {
      const cookie = await signIn(stack, 'seed-that-moves-7');
      const sessions = stack.app.get(BrowserSessions);
      const session = (await sessions.fromCookie(cookie.split('=')[1]))!;
      const first = await sessions.accountFor(session);
      const second = stack.fake.createAccessToken({ email: 'second@example.com' });
      await uploadTokens(stack, [second]);
      await stack.app.get(AccountLeaser).report(first.poolAccountId!, { kind: 'forbidden', reason: 'banned' });
      const moved = await sessions.accountFor(session);
      expect(moved.accessToken).toBe(second);
      expect(moved.poolAccountId).not.toBe(first.poolAccountId);
      await stack.app.get(PoolAdmin).restore(first.poolAccountId!);
    });
  });

  describe('an owner', () => {
    it('signs in with an AccessToken and sees their own email, but only a stand-in token', async () => {
      const own = stack.fake.createAccessToken({ email: 'owner@example.com' });
      const cookie = await signIn(stack, own);
      const session = await sessionOf(stack, cookie);
      expect(session.user!.email).toBe('owner@example.com');
      expect(session.accessToken).toMatch(/^fgst-/);
      expect(JSON.stringify(session)).not.toContain(own);
      const sessions = stack.app.get(BrowserSessions);
      const account = await sessions.accountFor((await sessions.fromStandInToken(session.accessToken!))!);
      expect(account.accessToken).toBe(own);
      expect(account.privateIdentifiers).toEqual([]);
    });

    it('signs in with a RefreshToken, exchanged at once', async () => {
      const refreshToken = stack.fake.createRefreshToken({ account: { email: 'refresher@example.com' } });
      const cookie = await signIn(stack, refreshToken);
      const session = await sessionOf(stack, cookie);
      expect(session.user!.email).toBe('refresher@example.com');
      expect(JSON.stringify(session)).not.toContain(refreshToken);
    });
  });

  describe('a refused token', () => {
    it.each([
      ['unknown shape', 'has a space in it', 'unknownShape', 400],
      ['a broken AccessToken', 'eyJhbGciOiJSUzI1NiJ9.not-json.x', 'malformedAccessToken', 400],
      ['a short seed', 'short', 'seedTooShort', 400],
      ['a pool key', POOL_KEY, 'poolKey', 400],
      ['nothing', '   ', 'empty', 400],
    ])('says what is wrong with %s', async (_name, token, reason, status) => {
      const response = await postSignIn(stack, token);
      expect(response.status).toBe(status);
      expect(errorReason(response.text)).toBe(reason);
      expect(cookieLine(response, SESSION_COOKIE)).toBeUndefined();
    });

    it('refuses the admin secret, which AUTO_SEED would otherwise keep as a seed for good', async () => {
      const seeds = async () =>
        (await request(stack.url).get('/admin/api/seeds').set('Authorization', `Bearer ${ADMIN_KEY}`).expect(200)).body.data.length;
      const before = await seeds();
      const response = await postSignIn(stack, ADMIN_KEY, { headers: { 'X-Forwarded-For': '198.51.100.77', 'Accept-Language': 'en' } });
      expect(response.status).toBe(400);
      expect(errorReason(response.text)).toBe('adminKey');
      expect(response.text).toContain('This is the admin secret');
      expect(cookieLine(response, SESSION_COOKIE)).toBeUndefined();
      expect(await seeds()).toBe(before);
    });

    it('says when an AccessToken has expired', async () => {
      const response = await postSignIn(stack, stack.fake.createAccessToken({ expiresInSec: -3600 }), {
        headers: { 'Accept-Language': 'en' },
      });
      expect(response.status).toBe(401);
      expect(errorReason(response.text)).toBe('expired');
      expect(response.text).toContain('This access token expired on');
    });

    it('says when chatgpt.com refuses an AccessToken: revoked, or never issued (claims alone are easy to forge)', async () => {
      const revoked = stack.fake.createAccessToken({ email: 'revoked@example.com' });
      stack.fake.revokeAccessToken(revoked);
      const claims = { exp: Math.floor(Date.now() / 1000) + 3600, 'https://api.openai.com/profile': { email: 'forged@example.com' } };
      const forged = `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2ln`;
      for (const token of [revoked, forged]) {
        const response = await postSignIn(stack, token, { headers: { 'X-Forwarded-For': '198.51.100.41', 'Accept-Language': 'en' } });
        expect(response.status).toBe(401);
        expect(errorReason(response.text)).toBe('accessRefused');
        expect(response.text).toContain('chatgpt.com refused this access token');
        expect(cookieLine(response, SESSION_COOKIE)).toBeUndefined();
      }
    });

    it('signs an AccessToken in to a workspace only when its account is a member (AT,account_id)', async () => {
      const team = randomUUID();
      const token = stack.fake.createAccessToken({ email: 'member@example.com', teamAccountIds: [team] });
      const from = { headers: { 'X-Forwarded-For': '198.51.100.42' } };
      expect((await postSignIn(stack, `${token},${team}`, from)).status).toBe(303);
      const stranger = await postSignIn(stack, `${token},${randomUUID()}`, from);
      expect(stranger.status).toBe(401);
      expect(errorReason(stranger.text)).toBe('workspaceUnknown');
    });

    it('calls an AccessToken whose expiry no date can hold unreadable, on the form and by a quick link', async () => {
      for (const exp of [-1e14, 1e14]) {
        const token = `eyJhbGciOiJIUzI1NiJ9.${Buffer.from(JSON.stringify({ exp })).toString('base64url')}.c2ln`;
        const posted = await postSignIn(stack, token, { headers: { 'X-Forwarded-For': '198.51.100.61' } });
        expect({ exp, status: posted.status, reason: errorReason(posted.text) }).toEqual({
          exp,
          status: 400,
          reason: 'malformedAccessToken',
        });
        const linked = await request(stack.url)
          .get(`/api/auth/signin?signin=${encodeURIComponent(token)}`)
          .set(navigationFrom('none'))
          .set('X-Forwarded-For', '198.51.100.62');
        expect({ exp, status: linked.status, reason: errorReason(linked.text) }).toEqual({
          exp,
          status: 400,
          reason: 'malformedAccessToken',
        });
      }
    });

    it('says when the auth server refuses a RefreshToken', async () => {
      const refreshToken = stack.fake.createRefreshToken();
      stack.fake.revokeRefreshToken(refreshToken);
      const response = await postSignIn(stack, refreshToken);
      expect(response.status).toBe(401);
      expect(errorReason(response.text)).toBe('refreshRefused');
      expect(response.text).toContain('认证服务器拒绝了这个刷新令牌');
    });

    it('accepts a form shown earlier, in another tab or restored by Back, and mints a token only for a browser without one', async () => {
      const browser = request.agent(stack.url); // one cookie jar for every tab
      const first = await browser.get('/auth/login').expect(200);
      const second = await browser.get('/auth/login?next=%2Fc%2Fabc').expect(200);
      expect(hiddenField(second.text, '_csrf')).toBe(hiddenField(first.text, '_csrf'));
      const posted = await browser
        .post('/auth/login')
        .set('Origin', stack.url)
        .set('X-Forwarded-For', '198.51.100.51')
        .type('form')
        .send({ _csrf: hiddenField(first.text, '_csrf'), token: 'two-tabs-seed-123', next: '/' });
      expect(posted.status).toBe(303);

      const planted = await request(stack.url).get('/auth/login').set('Cookie', `${FORM_COOKIE}=chosen-by-someone-else`).expect(200);
      expect(hiddenField(planted.text, '_csrf')).not.toBe('chosen-by-someone-else');
      expect(cookiePair(planted, FORM_COOKIE)).toBe(`${FORM_COOKIE}=${hiddenField(planted.text, '_csrf')}`);
    });

    it('refuses a post without the form token, or from another site', async () => {
      const form = await request(stack.url).get('/auth/login').expect(200);
      const withoutToken = await request(stack.url)
        .post('/auth/login')
        .set('Cookie', cookiePair(form, FORM_COOKIE))
        .type('form')
        .send({ token: 'seed-from-nowhere-1' });
      expect(withoutToken.status).toBe(403);
      expect(errorReason(withoutToken.text)).toBe('formExpired');
      const crossSite = await request(stack.url)
        .post('/auth/login')
        .set('Cookie', cookiePair(form, FORM_COOKIE))
        .set('Origin', 'https://evil.example')
        .type('form')
        .send({ _csrf: hiddenField(form.text, '_csrf'), token: 'seed-from-evil-12' });
      expect(crossSite.status).toBe(403);
      expect(crossSite.text).not.toContain('seed-from-evil-12');
      expect(cookieLine(crossSite, SESSION_COOKIE)).toBeUndefined();
    });
  });

  describe('redirects', () => {
    it.each(['//evil.com', '/\\evil.com', 'https://evil.com', 'javascript:alert(1)', '/%2F%2Fevil.com'])(
      'never leave the site: next=%s lands on /',
      async (next) => {
        const response = await postSignIn(stack, 'seed-for-redirects', { next });
        expect(response.status).toBe(303);
        expect(response.headers.location).toBe('/');
        const signedIn = cookiePair(response, SESSION_COOKIE);
        const again = await request(stack.url)
          .get(`/auth/login?next=${encodeURIComponent(next)}`)
          .set('Cookie', signedIn)
          .expect(303);
        expect(again.headers.location).toBe('/');
      },
    );

    it('lead the web app’s own sign-in links to our page', async () => {
      for (const path of ['/auth/login/auth0', '/api/auth/signin/login-web', '/api/auth/callback/openai']) {
        expect((await request(stack.url).get(path).expect(303)).headers.location).toBe('/auth/login');
      }
    });
  });

  describe('signing out', () => {
    it('asks first; cancel keeps the session, the form ends it', async () => {
      const cookie = await signIn(stack, 'seed-signing-out');
      const confirm = await request(stack.url).get('/auth/logout').set('Cookie', cookie).expect(200);
      expect(confirm.text).toContain('您确定要退出登录吗？');
      expect(confirm.text).toContain('href="/" id="cancel-sign-out"');

      const forged = await request(stack.url)
        .post('/auth/logout')
        .set('Cookie', cookie)
        .set('Origin', stack.url)
        .type('form')
        .send({ _csrf: 'wrong' });
      expect(forged.status).toBe(403);
      expect((await sessionOf(stack, cookie)).accessToken).toMatch(/^fgst-/);

      const done = await request(stack.url)
        .post('/auth/logout')
        .set('Cookie', cookie)
        .set('Origin', stack.url)
        .type('form')
        .send({ _csrf: hiddenField(confirm.text, '_csrf') });
      expect(done.status).toBe(303);
      expect(done.headers.location).toBe('/');
      expect(cookieLine(done, SESSION_COOKIE)).toMatch(/Expires=Thu, 01 Jan 1970/);
      expect(await sessionOf(stack, cookie)).toEqual({});
      expect((await request(stack.url).get('/auth/logout').set('Cookie', cookie).expect(303)).headers.location).toBe('/');
    });

    it('stays signed out when a request in flight at sign-out finishes a token exchange afterwards', async () => {
      // An auth server that rotates RefreshTokens, with AccessTokens short-lived enough that each use exchanges again.
      const refreshToken = stack.fake.createRefreshToken({ rotate: true, accessTokenTtlSec: 60 });
      const cookie = await signIn(stack, refreshToken, { headers: { 'X-Forwarded-For': '198.51.100.21' } });
      const standIn = (await sessionOf(stack, cookie)).accessToken!;
      const confirm = await request(stack.url).get('/auth/logout').set('Cookie', cookie).expect(200);

      const exchange = stack.fake.holdNextOAuth();
      const inFlight = request(stack.url)
        .get('/backend-api/models')
        .set('Authorization', `Bearer ${standIn}`)
        .then((r) => r);
      await exchange.arrived;
      await request(stack.url)
        .post('/auth/logout')
        .set('Cookie', cookie)
        .set('Origin', stack.url)
        .type('form')
        .send({ _csrf: hiddenField(confirm.text, '_csrf') })
        .expect(303);
      exchange.release();
      expect((await inFlight).status).toBe(401);

      expect(await sessionOf(stack, cookie)).toEqual({});
      expect((await request(stack.url).get('/backend-api/me').set('Authorization', `Bearer ${standIn}`)).status).toBe(401);
    });
  });

  describe('a session that has ended', () => {
    it('leads back to the sign-in form, which says so, once the RefreshToken was revoked', async () => {
      const refreshToken = stack.fake.createRefreshToken({ accessTokenTtlSec: 60 });
      const cookie = await signIn(stack, refreshToken, { headers: { 'X-Forwarded-For': '198.51.100.31' } });
      stack.fake.revokeRefreshToken(refreshToken);
      const login = await request(stack.url)
        .get('/auth/login?next=%2Fc%2Fabc')
        .set('Cookie', cookie)
        .set('Accept-Language', 'en')
        .expect(200);
      expect(errorReason(login.text)).toBe('sessionEnded');
      expect(login.text).toContain('Your session has ended');
      expect(login.text).toContain('name="token"');
      expect(hiddenField(login.text, 'next')).toBe('/c/abc');
      expect(cookieLine(login, SESSION_COOKIE)).toMatch(/Expires=Thu, 01 Jan 1970/);
      expect(await sessionOf(stack, cookie)).toEqual({});
    });

    it('ends once chatgpt.com refuses the owner’s own AccessToken on a call of the web app (revoked since sign-in)', async () => {
      const own = stack.fake.createAccessToken({ email: 'revoked-later@example.com' });
      const cookie = await signIn(stack, own, { headers: { 'X-Forwarded-For': '198.51.100.34' } });
      const standIn = (await sessionOf(stack, cookie)).accessToken!;
      await request(stack.url).get('/backend-api/me').set('Authorization', `Bearer ${standIn}`).expect(200);

      stack.fake.revokeAccessToken(own);
      const refused = await request(stack.url).get('/backend-api/me').set('Authorization', `Bearer ${standIn}`);
      expect(refused.status).toBe(401);
      expect(refused.text).not.toContain(own);
      expect(await sessionOf(stack, cookie)).toEqual({});
      const page = await request(stack.url).get('/').set('Cookie', cookie).set('Accept', 'text/html');
      expect({ status: page.status, location: page.headers.location }).toEqual({ status: 303, location: '/auth/login?next=%2F' });
    });

    it('goes on with a fresh AccessToken when chatgpt.com refuses the one exchanged from the owner’s RefreshToken', async () => {
      const refreshToken = stack.fake.createRefreshToken({ account: { email: 'renewed@example.com' } });
      const cookie = await signIn(stack, refreshToken, { headers: { 'X-Forwarded-For': '198.51.100.35' } });
      const standIn = (await sessionOf(stack, cookie)).accessToken!;
      const sessions = stack.app.get(BrowserSessions);
      const session = (await sessions.fromStandInToken(standIn))!;
      const first = (await sessions.accountFor(session)).accessToken;

      stack.fake.revokeAccessToken(first);
      expect((await request(stack.url).get('/backend-api/me').set('Authorization', `Bearer ${standIn}`)).status).toBe(401);
      const again = await request(stack.url).get('/backend-api/me').set('Authorization', `Bearer ${standIn}`).expect(200);
      expect(again.body.email).toBe('renewed@example.com');
      expect((await sessions.accountFor(session)).accessToken).not.toBe(first);
      expect((await sessionOf(stack, cookie)).user?.email).toBe('renewed@example.com');
    });

    it('sends a web-app page to the sign-in form, not a JSON error, once the SessionToken was signed out or the seed removed', async () => {
      const sessionToken = stack.fake.createSessionToken({ accessTokenTtlSec: 60 });
      const seed = 'seed-the-admin-removes';
      const owner = await signIn(stack, sessionToken, { headers: { 'X-Forwarded-For': '198.51.100.32' } });
      const seedUser = await signIn(stack, seed, { headers: { 'X-Forwarded-For': '198.51.100.33' } });
      stack.fake.sessionAuth.revoke(sessionToken);
      await request(stack.url).delete('/admin/api/seeds').set('Authorization', `Bearer ${ADMIN_KEY}`).send({ seed }).expect(200);
      for (const [cookie, path] of [
        [owner, '/'],
        [seedUser, '/c/abc'],
      ]) {
        const page = await request(stack.url).get(path).set('Cookie', cookie).set('Accept', 'text/html');
        expect({ path, status: page.status, location: page.headers.location }).toEqual({
          path,
          status: 303,
          location: `/auth/login?next=${encodeURIComponent(path)}`,
        });
        expect(await sessionOf(stack, cookie)).toEqual({});
        const login = await request(stack.url).get(page.headers.location).set('Cookie', cookie).expect(200);
        expect(errorReason(login.text)).toBe('sessionEnded');
      }
    });
  });

  describe('quick links', () => {
    it('sign in at once when the visitor opened the link, and ask when another site did', async () => {
      const asked = await request(stack.url).get('/api/auth/signin?signin=quick-link-seed-1&callbackUrl=//evil.com').expect(200);
      expect(cookieLine(asked, SESSION_COOKIE)).toBeUndefined();
      expect(asked.text).toContain('通过此链接登录？');
      expect(hiddenField(asked.text, 'token')).toBe('quick-link-seed-1');
      expect(hiddenField(asked.text, 'next')).toBe('/');

      const crossSite = await request(stack.url)
        .get('/api/auth/signin?signin=quick-link-seed-1')
        .set(navigationFrom('cross-site'))
        .expect(200);
      expect(cookieLine(crossSite, SESSION_COOKIE)).toBeUndefined();

      const typed = await request(stack.url)
        .get('/api/auth/signin?signin=quick-link-seed-1&callbackUrl=/gpts')
        .set(navigationFrom('none'))
        .expect(303);
      expect(typed.headers.location).toBe('/gpts');
      const cookie = cookiePair(typed, SESSION_COOKIE);

      expect((await request(stack.url).get('/api/auth/signin').expect(303)).headers.location).toBe('/auth/login');
      expect(
        (await request(stack.url).get('/api/auth/signout?signout=true').set('Cookie', cookie).set(navigationFrom('cross-site')).expect(303))
          .headers.location,
      ).toBe('/auth/logout');
      expect((await sessionOf(stack, cookie)).accessToken).toMatch(/^fgst-/);
      const out = await request(stack.url)
        .get('/api/auth/signout?signout=true')
        .set('Cookie', cookie)
        .set(navigationFrom('same-origin'))
        .expect(303);
      expect(out.headers.location).toBe('/');
      expect(await sessionOf(stack, cookie)).toEqual({});
      expect((await request(stack.url).get('/api/auth/signout?signout=true').expect(303)).headers.location).toBe('/auth/login');
    });

    it("take the reference's spelling with a slash before the query (/api/auth/signin/?signin=…)", async () => {
      // A network of its own: sign-ins are throttled per client network, and the other tests count on theirs.
      const signedIn = await request(stack.url)
        .get('/api/auth/signin/?signin=quick-link-seed-3')
        .set(navigationFrom('none'))
        .set('X-Forwarded-For', '198.51.100.90')
        .expect(303);
      expect(signedIn.headers.location).toBe('/');
      const cookie = cookiePair(signedIn, SESSION_COOKIE);
      expect((await sessionOf(stack, cookie)).accessToken).toMatch(/^fgst-/);

      const out = await request(stack.url)
        .get('/api/auth/signout/?signout=true')
        .set('Cookie', cookie)
        .set(navigationFrom('none'))
        .expect(303);
      expect(out.headers.location).toBe('/');
      expect(await sessionOf(stack, cookie)).toEqual({});
    });

    it('ask when a page of this site loads them without navigating to them (an <img>, fetch(), a frame)', async () => {
      const notNavigations: Record<string, string>[] = [
        { 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Mode': 'no-cors', 'Sec-Fetch-Dest': 'image' },
        { 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty' },
        { 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Mode': 'navigate', 'Sec-Fetch-Dest': 'iframe' },
        { 'Sec-Fetch-Site': 'same-origin' },
      ];
      for (const headers of notNavigations) {
        const asked = await request(stack.url).get('/api/auth/signin?signin=quick-link-seed-2').set(headers);
        expect({ headers, status: asked.status, cookie: cookieLine(asked, SESSION_COOKIE) }).toEqual({
          headers,
          status: 200,
          cookie: undefined,
        });
        expect(asked.text).toContain('通过此链接登录？');
      }

      const cookie = await signIn(stack, 'quick-link-seed-2', { headers: { 'X-Forwarded-For': '198.51.100.81' } });
      for (const headers of notNavigations) {
        const kept = await request(stack.url).get('/api/auth/signout?signout=true').set('Cookie', cookie).set(headers);
        expect({ headers, status: kept.status, location: kept.headers.location }).toEqual({
          headers,
          status: 303,
          location: '/auth/logout',
        });
      }
      expect((await sessionOf(stack, cookie)).accessToken).toMatch(/^fgst-/);

      // A browser from before Sec-Fetch-Dest (Chrome 76 to 79) sends the mode alone: its navigation still acts at once.
      const navigated = await request(stack.url)
        .get('/api/auth/signout?signout=true')
        .set('Cookie', cookie)
        .set({ 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Mode': 'navigate' })
        .expect(303);
      expect(navigated.headers.location).toBe('/');
      expect(await sessionOf(stack, cookie)).toEqual({});
    });
  });

  describe('next-auth endpoints and the home page', () => {
    it('answers next-auth locally', async () => {
      expect((await request(stack.url).get('/api/auth/session').expect(200)).body).toEqual({});
      const providers = (await request(stack.url).get('/api/auth/providers').expect(200)).body;
      expect(providers.auth0.signinUrl).toBe('/api/auth/signin/auth0');
      expect((await request(stack.url).post('/api/auth/providers').expect(200)).body['login-web'].id).toBe('login-web');
      expect((await request(stack.url).get('/api/auth/csrf').expect(200)).body.csrfToken).toMatch(/^[0-9a-f]{64}$/);
      await request(stack.url).post('/api/auth/_log').send({ level: 'error' }).expect(204);
      expect((await request(stack.url).get('/api/auth/error?error=Configuration').expect(303)).headers.location).toBe('/auth/login');
      expect((await request(stack.url).post('/api/auth/signin').expect(200)).body).toEqual({ url: '/auth/login' });
      expect((await request(stack.url).post('/api/auth/signout').expect(200)).body).toEqual({ url: '/auth/logout' });
    });

    it('answers the web app’s “Log in” button (next-auth signIn(provider)) with our sign-in page, back to a page of this site', async () => {
      const providers = (await request(stack.url).get('/api/auth/providers').expect(200)).body;
      const csrfToken = (await request(stack.url).get('/api/auth/csrf').expect(200)).body.csrfToken;
      const cases = [
        [`${stack.url}/c/abc?model=auto`, '/c/abc?model=auto'],
        ['/gpts', '/gpts'],
        ['https://evil.example/c/abc', '/'],
        ['//evil.example', '/'],
        [undefined, '/'],
      ] as const;
      for (const provider of ['login-web', 'auth0', 'openai']) {
        for (const [callbackUrl, next] of cases) {
          const answer = await request(stack.url)
            .post(`${providers[provider].signinUrl}?prompt=login`)
            .type('form')
            .send({ csrfToken, json: 'true', ...(callbackUrl ? { callbackUrl } : {}) });
          expect({ provider, callbackUrl, status: answer.status, url: answer.body.url }).toEqual({
            provider,
            callbackUrl,
            status: 200,
            url: `/auth/login?next=${encodeURIComponent(next)}`,
          });
        }
      }
      const callback = await request(stack.url).post('/api/auth/callback/openai').type('form').send({ callbackUrl: '/c/x' }).expect(200);
      expect(callback.body.url).toBe('/auth/login?next=%2Fc%2Fx');
      const form = await request(stack.url).get(callback.body.url).expect(200);
      expect(hiddenField(form.text, 'next')).toBe('/c/x');
    });

    it('shows our home page without a session, and the live chat shell (the web app page, rewritten) with one, on every page of the web app', async () => {
      const home = await request(stack.url).get('/').set('Accept-Language', 'en').expect(200);
      expect(home.text).toContain('Good at UI.');
      expect(home.text).toContain('<title>FlowGPT</title>');
      expect(home.text).toContain('href="/auth/login"');
      expect(home.headers['content-security-policy']).toContain("default-src 'none'");
      const cookie = await signIn(stack, 'seed-for-the-home-page');
      const signedIn = await request(stack.url).get('/').set('Cookie', cookie).expect(200);
      expect(signedIn.headers['content-type']).toMatch(/^text\/html/);
      expect(signedIn.headers['cache-control']).toBe('private, no-store');
      expect(signedIn.text).toContain('<title>ChatGPT</title>');
      expect(signedIn.text).toContain('id="composer"');
      expect(signedIn.text).not.toContain('Good at UI.');
      expect(signedIn.text).not.toContain('seed-for-the-home-page');
      expect(cookieLine(signedIn, SESSION_COOKIE)).toMatch(/HttpOnly/);

      // The web app's own pages, loaded or reloaded directly: the chat UI, fetched at the same path; sign-in first without a session.
      const pages = ['/gpts', '/gpts/discovery', '/g/g-abc123-some-gpt', '/share/abc'];
      for (const path of pages) {
        const page = await request(stack.url).get(path).set('Cookie', cookie);
        expect({ path, status: page.status, type: page.headers['content-type'] }).toEqual({
          path,
          status: 200,
          type: expect.stringMatching(/^text\/html/),
        });
        expect(page.text).toContain('id="composer"');
        expect(stack.fake.requests.filter((r) => r.method === 'GET').map((r) => r.path)).toContain(path);
        const signedOut = await request(stack.url).get(path);
        expect(signedOut.status).toBe(303);
        expect(signedOut.headers.location).toBe(`/auth/login?next=${encodeURIComponent(path)}`);
      }
      // The account's own pages: a seed gets a new chat instead, and the account's page is never fetched.
      for (const path of ['/tasks', '/library', '/images', '/ccc/abc', '/gpts/editor/g-abc', '/g/g-p-abc/project']) {
        const page = await request(stack.url).get(path).set('Cookie', cookie);
        expect({ path, status: page.status, location: page.headers.location }).toEqual({ path, status: 302, location: '/' });
        expect(stack.fake.requests.map((r) => r.path)).not.toContain(path);
        const signedOut = await request(stack.url).get(path);
        expect(signedOut.headers.location).toBe(`/auth/login?next=${encodeURIComponent(path)}`);
      }
      // A conversation page that is not this seed's: a new chat instead, and the account's page is never fetched.
      const notOwn = await request(stack.url).get('/c/abc/def').set('Cookie', cookie);
      expect({ status: notOwn.status, location: notOwn.headers.location }).toEqual({ status: 302, location: '/' });
      expect(stack.fake.requests.map((r) => r.path)).not.toContain('/c/abc/def');
      const signedOut = await request(stack.url).get('/c/abc/def');
      expect(signedOut.headers.location).toBe(`/auth/login?next=${encodeURIComponent('/c/abc/def')}`);
    });
  });
});

describe('Browser sign-in with an AccessToken that expires (a clock the test moves)', () => {
  let clock: FakeClock;
  let stack: Stack;
  beforeAll(async () => {
    clock = new FakeClock(Date.now());
    stack = await startStack({ clock, env: { ENABLE_GATEWAY: 'true', ADMIN_KEY } });
  });
  afterAll(() => stack.close());

  it('ends the session with the token: the pages lead to the sign-in form, and the web app sees a signed-out browser', async () => {
    const cookie = await signIn(stack, stack.fake.createAccessToken({ email: 'expiring@example.com', expiresInSec: 3600 }));
    expect((await sessionOf(stack, cookie)).user?.email).toBe('expiring@example.com');
    clock.advance(3601_000);

    const home = await request(stack.url).get('/').set('Cookie', cookie).set('Accept', 'text/html');
    expect(home.status).toBe(303);
    expect(home.headers['content-type']).toMatch(/^text\/html/);
    expect(home.headers.location).toBe('/auth/login?next=%2F');
    expect(await sessionOf(stack, cookie)).toEqual({});
    const login = await request(stack.url).get('/auth/login').set('Cookie', cookie).expect(200);
    expect(login.text).toContain('name="token"');
    expect(errorReason(login.text)).toBe('sessionEnded');
  });
});

describe('Browser sign-in with ENABLE_HOMEPAGE=true', () => {
  const PUBLIC_URL = 'https://gw.example.test';
  let fake: FakeUpstream;
  let stack: Stack;
  beforeAll(async () => {
    fake = await FakeUpstream.start();
    stack = await startStack({
      fakeUpstream: fake,
      env: { ENABLE_GATEWAY: 'true', ENABLE_HOMEPAGE: 'true', PUBLIC_URL, CDN_BASE_URL: fake.url, ADMIN_KEY },
    });
    await uploadTokens(stack, [fake.createAccessToken({ email: 'home-pool@example.com' })]);
  });
  afterAll(async () => {
    await stack.close();
    await fake.close().catch(() => undefined);
  });

  it('shows the upstream logged-out home page without a session, through the proxy and rewritten onto our origin', async () => {
    const before = fake.requests.length;
    const home = await request(stack.url)
      .get('/')
      .set('Accept-Language', 'en')
      .set('Cookie', 'foreign=1; __Secure-next-auth.session-token=not-ours')
      .expect(200);
    expect(home.headers['content-type']).toMatch(/^text\/html/);
    expect(home.text).toContain('<title>ChatGPT</title>');
    expect(home.text).toContain('logged_out');
    expect(home.text).not.toContain('logged_in');
    expect(home.text).not.toContain('accessToken');
    expect(home.text).not.toContain('Good at UI.');
    // Nor where this server is: the page's context gave the address and place of whoever fetched it.
    for (const value of Object.values(FETCHER_NETWORK)) expect(home.text).not.toContain(value);
    // Hosts onto our origin, as in the chat shell.
    expect(home.text).toContain(`${PUBLIC_URL}/assets/${APP_SCRIPT}`);
    expect(home.text).not.toContain('cdn.oaistatic.com');
    expect(home.text).not.toContain(fake.url);
    expect(home.headers['content-security-policy']).toContain(PUBLIC_URL);
    expect(home.headers['content-security-policy']).not.toContain('cdn.oaistatic.com');
    expect(home.headers['cache-control']).toBe('private, no-store');
    expect(setCookies(home).some((line) => line.startsWith('oai-did='))).toBe(false);
    // Fetched as an anonymous browser: none of the visitor's cookies, no credentials.
    const fetched = fake.requests.slice(before).filter((r) => r.path === '/');
    expect(fetched).toHaveLength(1);
    expect(fetched[0].headers.cookie).toBeUndefined();
    expect(fetched[0].headers.authorization).toBeUndefined();
  });

  it('still shows the chat page to a signed-in browser', async () => {
    const cookie = await signIn(stack, 'seed-for-the-upstream-home');
    const signedIn = await request(stack.url).get('/').set('Cookie', cookie).expect(200);
    expect(signedIn.text).toContain('id="composer"');
    expect(signedIn.text).not.toContain('seed-for-the-upstream-home');
    expect((await sessionOf(stack, cookie)).accessToken).toBeDefined();
  });

  it('says the upstream is unavailable when it refuses the home page', async () => {
    fake.webApp.pageStatus = 503;
    try {
      const home = await request(stack.url).get('/').expect(503);
      expect(home.text).toContain('HTTP 503');
      expect(home.text).not.toContain('Good at UI.');
      // The page is styled: every stylesheet it links is served.
      const stylesheets = [...home.text.matchAll(/<link rel="stylesheet" href="([^"]+)"/g)].map((match) => match[1]);
      expect(stylesheets).not.toHaveLength(0);
      for (const href of stylesheets) await request(stack.url).get(href).expect(200);
    } finally {
      fake.webApp.pageStatus = null;
    }
  });
});

describe('Browser sign-in with ADMIN_KEY and API_PREFIX both set (AUTO_SEED=true)', () => {
  const API_PREFIX = 'prefix-for-sign-in-tests';
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { ENABLE_GATEWAY: 'true', ADMIN_KEY, API_PREFIX } });
    await uploadTokens(stack, [stack.fake.createAccessToken()]);
  });
  afterAll(() => stack.close());

  it('refuses the API prefix, a secret path handed to API users, on the form and by a quick link, and keeps no seed of it', async () => {
    const posted = await postSignIn(stack, API_PREFIX, { headers: { 'Accept-Language': 'en' } });
    expect({ status: posted.status, reason: errorReason(posted.text) }).toEqual({ status: 400, reason: 'apiPrefix' });
    expect(posted.text).toContain('This is the API path prefix');
    expect(cookieLine(posted, SESSION_COOKIE)).toBeUndefined();

    const linked = await request(stack.url).get(`/api/auth/signin?signin=${API_PREFIX}`).set(navigationFrom('none'));
    expect({ status: linked.status, reason: errorReason(linked.text) }).toEqual({ status: 400, reason: 'apiPrefix' });
    expect(cookieLine(linked, SESSION_COOKIE)).toBeUndefined();

    const adminSecret = await postSignIn(stack, ADMIN_KEY);
    expect({ status: adminSecret.status, reason: errorReason(adminSecret.text) }).toEqual({ status: 400, reason: 'adminKey' });
    const seeds = await request(stack.url).get('/admin/api/seeds').set('Authorization', `Bearer ${ADMIN_KEY}`).expect(200);
    expect(seeds.body.data).toEqual([]);
  });
});

describe('Browser sign-in (AUTO_SEED=false)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { ENABLE_GATEWAY: 'true', ADMIN_KEY, AUTO_SEED: 'false' } });
  });
  afterAll(() => stack.close());

  it('says when the pool is empty', async () => {
    await request(stack.url)
      .post('/admin/api/seeds')
      .set('Authorization', `Bearer ${ADMIN_KEY}`)
      .send({ seed: 'seed-before-any-account' })
      .expect(201);
    const response = await postSignIn(stack, 'seed-before-any-account');
    expect(response.status).toBe(503);
    expect(errorReason(response.text)).toBe('poolEmpty');
  });

  it('accepts only the seeds the admin created', async () => {
    await uploadTokens(stack, [stack.fake.createAccessToken()]);
    const unknown = await postSignIn(stack, 'seed-nobody-created');
    expect(unknown.status).toBe(401);
    expect(errorReason(unknown.text)).toBe('seedUnknown');
    await request(stack.url)
      .post('/admin/api/seeds')
      .set('Authorization', `Bearer ${ADMIN_KEY}`)
      .send({ seed: 'seed-the-admin-made' })
      .expect(201);
    const known = await postSignIn(stack, 'seed-the-admin-made');
    expect(known.status).toBe(303);
  });
});

describe('Browser sign-in (AUTO_SEED=true, MAX_SEEDS=2)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { ENABLE_GATEWAY: 'true', ADMIN_KEY, MAX_SEEDS: '2' } });
    await uploadTokens(stack, [stack.fake.createAccessToken()]);
  });
  afterAll(() => stack.close());

  it('refuses a new seed once there are MAX_SEEDS, saying why, and still signs in the seeds it has', async () => {
    expect((await postSignIn(stack, 'first-seed-typed')).status).toBe(303);
    expect((await postSignIn(stack, 'second-seed-typed')).status).toBe(303);
    const refused = await postSignIn(stack, 'third-seed-typed', { headers: { 'Accept-Language': 'en' } });
    expect(refused.status).toBe(403);
    expect(errorReason(refused.text)).toBe('seedLimit');
    expect(refused.text).toContain('This server takes no new seed tokens');
    expect(cookieLine(refused, SESSION_COOKIE)).toBeUndefined();
    expect((await postSignIn(stack, 'first-seed-typed')).status).toBe(303);
  });
});
