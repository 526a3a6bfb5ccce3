import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import request from 'supertest';
import { SharedState } from '../src/common/shared-state/shared-state';
import { maskSecret } from '../src/common/util/secrets';
import type { AccountView } from '../src/token-pool/pool.types';
import { poolServicesOf } from '../src/token-pool/testing/pool-services';
import { FakeUpstream } from './fake-upstream/fake-upstream';
import { ServerProcess, startServer, stopAllServers } from './support/process';
import { Stack, startStack } from './support/stack';

const ADMIN_KEY = 'admin-key-for-tests-7f3a9c';
const API_PREFIX = 'prefix-7Hq2';
const COOKIE = 'flowgpt_admin';

/** A signed-in admin: the session cookie (`name=value`) and the CSRF token the dashboard embeds. */
interface AdminBrowser {
  cookie: string;
  csrf: string;
}

function setCookies(response: request.Response): string[] {
  const header = response.headers['set-cookie'] as unknown as string[] | string | undefined;
  return header === undefined ? [] : Array.isArray(header) ? header : [header];
}

function sessionCookieOf(response: request.Response): string | undefined {
  return setCookies(response).find((line) => line.startsWith(`${COOKIE}=`));
}

function csrfOf(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!match) throw new Error('no CSRF field on the page');
  return match[1];
}

/** A browser's cookies as its jar holds them: each under its Path, sent only to paths within it. */
type CookieJar = Map<string, { value: string; path: string }>;

/**
 * Follows a sign-in's redirects as a browser does, sending on each hop the cookies whose Path covers it and keeping
 * the ones each answer sets; resolves with the last answer (not a redirect).
 */
async function browse(stack: Stack, jar: CookieJar, path: string): Promise<request.Response> {
  for (let hop = 0; hop < 5; hop++) {
    const within = (cookiePath: string) => path === cookiePath || path.startsWith(cookiePath.endsWith('/') ? cookiePath : `${cookiePath}/`);
    const cookies = [...jar].filter(([, cookie]) => within(cookie.path)).map(([name, cookie]) => `${name}=${cookie.value}`);
    const answer = await request(stack.url).get(path).set('Cookie', cookies.join('; '));
    for (const line of setCookies(answer)) {
      const [pair, ...attributes] = line.split(';').map((part) => part.trim());
      const name = pair.slice(0, pair.indexOf('='));
      const value = pair.slice(pair.indexOf('=') + 1);
      const cookiePath = attributes.find((attribute) => /^path=/i.test(attribute))?.slice(5) ?? '/';
      const expired = attributes.some((attribute) => /^expires=/i.test(attribute) && Date.parse(attribute.slice(8)) < Date.now());
      if (expired || value === '') jar.delete(name);
      else jar.set(name, { value, path: cookiePath });
    }
    if (answer.status !== 302 && answer.status !== 303) return answer;
    path = String(answer.headers.location);
  }
  throw new Error('too many redirects');
}

/** Signs in through the form and reads the CSRF token from the dashboard. */
async function signIn(stack: Stack, secret = ADMIN_KEY, address = '198.51.100.1'): Promise<AdminBrowser> {
  const login = await request(stack.url).post('/admin/login').set('X-Forwarded-For', address).type('form').send({ secret }).expect(303);
  expect(login.headers.location).toBe('/admin');
  const cookie = sessionCookieOf(login)!.split(';')[0];
  const dashboard = await request(stack.url).get('/admin').set('Cookie', cookie).expect(200);
  return { cookie, csrf: csrfOf(dashboard.text) };
}

/** Posts a dashboard form the way the browser does: session cookie, `_csrf`, same-origin Origin. */
function postForm(stack: Stack, admin: AdminBrowser, path: string, fields: Record<string, string> = {}) {
  return request(stack.url)
    .post(path)
    .set('Cookie', admin.cookie)
    .set('Origin', stack.url)
    .type('form')
    .send({ _csrf: admin.csrf, ...fields });
}

/** The dashboard's flash message, if any. */
async function flashAfter(stack: Stack, admin: AdminBrowser): Promise<string | undefined> {
  const page = await request(stack.url).get('/admin').set('Cookie', admin.cookie).set('Accept-Language', 'en').expect(200);
  return /class="flash flash-\w+" role="status">([^<]*)</.exec(page.text)?.[1];
}

function api(stack: Stack, secret = ADMIN_KEY) {
  const auth = (test: request.Test) => test.set('Authorization', `Bearer ${secret}`);
  return {
    get: (path: string) => auth(request(stack.url).get(path)),
    post: (path: string, body?: object) => auth(request(stack.url).post(path)).send(body),
    delete: (path: string, body?: object) => auth(request(stack.url).delete(path)).send(body),
  };
}

async function accounts(stack: Stack): Promise<AccountView[]> {
  return (await api(stack).get('/admin/api/tokens').expect(200)).body.data;
}

const errorShape = { error: { message: expect.any(String), type: expect.any(String), param: null, code: expect.any(String) } };

describe('Admin with ADMIN_KEY', () => {
  let stack: Stack;
  /** Every credential handed to the app; none may come back in any response body. */
  const secrets: string[] = [];
  const bodies: string[] = [];

  beforeAll(async () => {
    stack = await startStack({ env: { ADMIN_KEY, API_PREFIX, TRUSTED_PROXIES: '127.0.0.1, ::1' } });
  });
  afterAll(async () => {
    for (const body of bodies) for (const secret of secrets) expect(body).not.toContain(secret);
    await stack.close();
  });
  afterEach(async () => {
    await poolServicesOf(stack.app).admin.clear();
  });

  /** Remembers a body so that `afterAll` can check it for leaked credentials. */
  function seen(response: request.Response): request.Response {
    bodies.push(response.text);
    return response;
  }

  function accessToken(email?: string): string {
    const token = stack.fake.createAccessToken(email ? { email } : undefined);
    secrets.push(token);
    return token;
  }

  describe('signing in', () => {
    it('sends a visitor without a session to the sign-in page', async () => {
      const response = await request(stack.url).get('/admin').expect(303);
      expect(response.headers.location).toBe('/admin/login');
      const page = await request(stack.url).get('/admin/login').expect(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.headers['content-security-policy']).toContain("default-src 'none'");
      expect(page.headers['cache-control']).toBe('no-store');
      expect(page.text).toContain('name="secret"');
    });

    it('signs in through the form with an HttpOnly, SameSite=Strict cookie that does not hold the secret', async () => {
      const response = await request(stack.url).post('/admin/login').type('form').send({ secret: ADMIN_KEY }).expect(303);
      expect(response.headers.location).toBe('/admin');
      const cookie = sessionCookieOf(response)!;
      expect(cookie).toMatch(/; HttpOnly/);
      expect(cookie).toMatch(/; SameSite=Strict/);
      expect(cookie).toMatch(/; Path=\/admin/);
      expect(cookie).toMatch(/; Max-Age=43200/);
      expect(cookie).not.toMatch(/; Secure/);
      expect(cookie).not.toContain(ADMIN_KEY);
      expect(cookie).not.toContain(encodeURIComponent(ADMIN_KEY));
      // cookie-parser's signed format, URL-encoded: `s:<session id>.<HMAC-SHA256, base64>`.
      expect(cookie.split(';')[0]).toMatch(new RegExp(`^${COOKIE}=s%3A[\\w-]{32}\\.[\\w%]{43,}$`));

      const dashboard = await request(stack.url).get('/admin').set('Cookie', cookie.split(';')[0]).set('Accept-Language', 'en').expect(200);
      expect(dashboard.text).toContain('Accounts');
      expect(dashboard.text).not.toContain(ADMIN_KEY);
      const again = await request(stack.url).get('/admin/login').set('Cookie', cookie.split(';')[0]).expect(303);
      expect(again.headers.location).toBe('/admin');
    });

    it('marks the cookie Secure behind an https proxy in TRUSTED_PROXIES', async () => {
      const response = await request(stack.url)
        .post('/admin/login')
        .set('X-Forwarded-Proto', 'https')
        .type('form')
        .send({ secret: ADMIN_KEY })
        .expect(303);
      expect(sessionCookieOf(response)).toMatch(/; Secure/);
    });

    it('refuses a wrong secret and a forged or tampered cookie', async () => {
      const wrong = await request(stack.url)
        .post('/admin/login')
        .set('X-Forwarded-For', '198.51.100.20')
        .set('Accept-Language', 'en')
        .type('form')
        .send({ secret: 'not-the-key' })
        .expect(401);
      expect(wrong.text).toContain('Wrong admin secret.');
      expect(sessionCookieOf(wrong)).toBeUndefined();

      const { cookie } = await signIn(stack);
      const [id, signature] = cookie.slice(COOKIE.length + 1).split('.');
      for (const forged of [
        `${COOKIE}=${id}.${signature.slice(0, -2)}AA`,
        `${COOKIE}=${id}`,
        `${COOKIE}=${ADMIN_KEY}`,
        `${COOKIE}=${id.slice(0, 4)}AAAA${id.slice(8)}.${signature}`,
      ]) {
        const response = await request(stack.url).get('/admin').set('Cookie', forged).expect(303);
        expect(response.headers.location).toBe('/admin/login');
      }
    });

    it('does not open the admin at /{API_PREFIX} when ADMIN_KEY is set', async () => {
      const response = await request(stack.url).get(`/${API_PREFIX}`).expect(404);
      expect(sessionCookieOf(response)).toBeUndefined();
      expect(response.body).toEqual(errorShape);
    });

    it('slows an address after 5 failures: one checked attempt a minute, answered alike whether checked or not', async () => {
      const address = '203.0.113.7';
      const login = (secret: string) =>
        request(stack.url).post('/admin/login').set('X-Forwarded-For', address).type('form').send({ secret });
      for (let attempt = 0; attempt < 5; attempt++) await login(`guess-${attempt}`).expect(401);
      // The minute's checked attempt: wrong, so throttled.
      const page = await login('guess-5').expect(429);
      expect(Number(page.headers['retry-after'])).toBeGreaterThan(0);
      expect(Number(page.headers['retry-after'])).toBeLessThanOrEqual(60);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.text).toContain('Too many failed sign-ins');
      expect(sessionCookieOf(page)).toBeUndefined();

      // Within that minute nothing is checked, the right secret included: the same answer as a wrong guess.
      const unchecked = await login(ADMIN_KEY).expect(429);
      expect(sessionCookieOf(unchecked)).toBeUndefined();
      const json = await request(stack.url)
        .post('/admin/login')
        .set('X-Forwarded-For', address)
        .set('Accept', 'application/json')
        .type('form')
        .send({ secret: ADMIN_KEY })
        .expect(429);
      expect(json.body).toEqual({
        error: { message: expect.stringContaining('Too many'), type: 'rate_limit_error', param: null, code: 'rate_limit_exceeded' },
      });
      const bearer = await api(stack).get('/admin/api/tokens').set('X-Forwarded-For', address).expect(429);
      expect(bearer.headers['retry-after']).toBeDefined();

      await signIn(stack, ADMIN_KEY, '203.0.113.8');
    });

    it('lets the right secret in after 5 failures, and that clears the count', async () => {
      const address = '203.0.113.10';
      const login = (secret: string) =>
        request(stack.url).post('/admin/login').set('X-Forwarded-For', address).type('form').send({ secret });
      for (let attempt = 0; attempt < 5; attempt++) await login(`guess-${attempt}`).expect(401);
      const signedIn = await login(ADMIN_KEY).expect(303);
      expect(sessionCookieOf(signedIn)).toBeDefined();
      for (let attempt = 0; attempt < 5; attempt++) await login(`guess-${attempt}`).expect(401);
    });

    it('counts an IPv6 /64 as one network', async () => {
      for (let attempt = 0; attempt < 5; attempt++) {
        await request(stack.url)
          .post('/admin/login')
          .set('X-Forwarded-For', `2001:db8:77:1::${attempt + 1}`)
          .type('form')
          .send({ secret: `guess-${attempt}` })
          .expect(401);
      }
      await request(stack.url)
        .post('/admin/login')
        .set('X-Forwarded-For', '2001:db8:77:1:ffff::9')
        .type('form')
        .send({ secret: 'guess' })
        .expect(429);
      await request(stack.url)
        .post('/admin/login')
        .set('X-Forwarded-For', '2001:db8:77:2::1')
        .type('form')
        .send({ secret: 'guess' })
        .expect(401);
    });

    it('counts wrong bearer secrets as failures too, and lets the right bearer secret through after them', async () => {
      const address = '203.0.113.9';
      for (let attempt = 0; attempt < 5; attempt++)
        await api(stack, `wrong-${attempt}`).get('/admin/api/tokens').set('X-Forwarded-For', address).expect(401);
      await api(stack, 'wrong-5').get('/admin/api/tokens').set('X-Forwarded-For', address).expect(429);
      await api(stack).get('/admin/api/tokens').set('X-Forwarded-For', address).expect(429);

      const other = '203.0.113.11';
      for (let attempt = 0; attempt < 5; attempt++)
        await api(stack, `wrong-${attempt}`).get('/admin/api/tokens').set('X-Forwarded-For', other).expect(401);
      await api(stack).get('/admin/api/tokens').set('X-Forwarded-For', other).expect(200);
    });

    it('signs out: the session stops working', async () => {
      const admin = await signIn(stack);
      const response = await postForm(stack, admin, '/admin/logout').expect(303);
      expect(response.headers.location).toBe('/admin/login');
      expect(sessionCookieOf(response)).toMatch(new RegExp(`^${COOKIE}=;.*Expires=Thu, 01 Jan 1970`));
      await request(stack.url).get('/admin').set('Cookie', admin.cookie).expect(303);
    });
  });

  describe('JSON API access', () => {
    it('answers 401 in the OpenAI error shape without or with a wrong secret', async () => {
      const missing = await request(stack.url).get('/admin/api/tokens').expect(401);
      expect(missing.body).toEqual({
        error: { message: expect.any(String), type: 'authentication_error', param: null, code: 'invalid_admin_key' },
      });
      const wrong = await api(stack, 'wrong-secret').get('/admin/api/tokens').set('X-Forwarded-For', '198.51.100.30').expect(401);
      expect(wrong.body.error.code).toBe('invalid_admin_key');
      await request(stack.url).get('/admin/api/tokens').set('Authorization', `Basic ${ADMIN_KEY}`).expect(401);
      await request(stack.url).delete('/admin/api/tokens').expect(401);
    });

    it('lists the pool with counts for the bearer secret', async () => {
      const response = await api(stack).get('/admin/api/tokens').expect(200);
      expect(response.body).toEqual({ data: [], counts: { total: 0, active: 0, rate_limited: 0, expired: 0, disabled: 0 } });
    });

    it('accepts the session cookie, with the CSRF token in x-csrf-token for writes', async () => {
      const admin = await signIn(stack);
      await request(stack.url).get('/admin/api/tokens').set('Cookie', admin.cookie).expect(200);
      const token = accessToken();
      const refused = await request(stack.url)
        .post('/admin/api/tokens')
        .set('Cookie', admin.cookie)
        .send({ tokens: [token] })
        .expect(403);
      expect(refused.body.error.code).toBe('invalid_csrf_token');
      await request(stack.url)
        .post('/admin/api/tokens')
        .set('Cookie', admin.cookie)
        .set('x-csrf-token', 'wrong')
        .send({ tokens: [token] })
        .expect(403);
      const foreign = await request(stack.url)
        .post('/admin/api/tokens')
        .set('Cookie', admin.cookie)
        .set('x-csrf-token', admin.csrf)
        .set('Origin', 'https://evil.example')
        .send({ tokens: [token] })
        .expect(403);
      expect(foreign.body.error.code).toBe('cross_site_request');
      expect((await accounts(stack)).length).toBe(0);
      const accepted = await request(stack.url)
        .post('/admin/api/tokens')
        .set('Cookie', admin.cookie)
        .set('x-csrf-token', admin.csrf)
        .send({ tokens: [token] })
        .expect(200);
      expect(accepted.body).toEqual({ added: 1, replaced: 0, duplicates: 0, invalid: 0, invalidLines: [] });
    });

    it('validates the upload body', async () => {
      const notArray = await api(stack).post('/admin/api/tokens', { tokens: 'eyJhbGciOi.x.y' }).expect(400);
      expect(notArray.body.error).toMatchObject({ type: 'invalid_request_error', param: 'tokens' });
      const notStrings = await api(stack)
        .post('/admin/api/tokens', { tokens: ['ok', 42] })
        .expect(400);
      expect(notStrings.body.error.param).toBe('tokens');
      const missing = await api(stack).post('/admin/api/tokens', {}).expect(400);
      expect(missing.body.error).toMatchObject({ param: 'tokens', code: 'missing_required_parameter' });
    });
  });

  describe('cross-site protection of the forms', () => {
    it('refuses a form without, or with a wrong, _csrf, and one from a foreign Origin or Referer', async () => {
      const admin = await signIn(stack);
      const token = accessToken();
      const attempts = [
        request(stack.url).post('/admin/tokens').set('Cookie', admin.cookie).type('form').send({ tokens: token }),
        request(stack.url).post('/admin/tokens').set('Cookie', admin.cookie).type('form').send({ tokens: token, _csrf: 'forged' }),
        request(stack.url)
          .post('/admin/tokens')
          .set('Cookie', admin.cookie)
          .set('Origin', 'https://evil.example')
          .type('form')
          .send({ tokens: token, _csrf: admin.csrf }),
        request(stack.url)
          .post('/admin/tokens')
          .set('Cookie', admin.cookie)
          .set('Origin', 'null')
          .type('form')
          .send({ tokens: token, _csrf: admin.csrf }),
        request(stack.url)
          .post('/admin/tokens')
          .set('Cookie', admin.cookie)
          .set('Referer', 'https://evil.example/page')
          .type('form')
          .send({ tokens: token, _csrf: admin.csrf }),
        request(stack.url).post('/admin/tokens/clear').set('Cookie', admin.cookie).type('form').send({}),
      ];
      for (const attempt of attempts) {
        const response = await attempt.set('Accept-Language', 'en').expect(403);
        expect(response.headers['content-type']).toMatch(/^text\/html/);
        expect(response.text).toContain('Request refused');
      }
      expect((await accounts(stack)).length).toBe(0);
      await request(stack.url)
        .post('/admin/login')
        .set('Origin', 'https://evil.example')
        .type('form')
        .send({ secret: ADMIN_KEY })
        .expect(403);
    });

    it('gives the page answering a refused form language and theme links to pages that exist (found in review)', async () => {
      const admin = await signIn(stack);
      const switchLinks = (html: string) =>
        [...html.matchAll(/class="prefs-(?:lang|theme[^"]*)" href="([^"]+)"/g)].map((match) => match[1].replace(/&#x3D;/g, '='));
      const refused = await request(stack.url)
        .post('/admin/tokens')
        .set('Cookie', admin.cookie)
        .set('Origin', stack.url)
        .set('Accept-Language', 'en')
        .type('form')
        .send({ _csrf: 'stale-token', tokens: 'x' })
        .expect(403);
      const wrongSecret = await request(stack.url)
        .post('/admin/login')
        .set('X-Forwarded-For', '198.51.100.77')
        .set('Accept-Language', 'en')
        .type('form')
        .send({ secret: 'not-the-secret' })
        .expect(401);
      expect(switchLinks(refused.text)).toEqual(expect.arrayContaining(['/admin?lang=zh', '/admin?theme=dark']));
      expect(switchLinks(wrongSecret.text)).toEqual(expect.arrayContaining(['/admin/login?lang=zh', '/admin/login?theme=dark']));
      for (const link of [...switchLinks(refused.text), ...switchLinks(wrongSecret.text)]) {
        const followed = await request(stack.url).get(link).set('Cookie', admin.cookie);
        expect({ link, found: followed.status < 400 }).toEqual({ link, found: true });
      }
    });

    it('refuses form posts without a session by sending them to the sign-in page', async () => {
      const response = await request(stack.url).post('/admin/tokens/clear').type('form').send({ _csrf: 'x' }).expect(303);
      expect(response.headers.location).toBe('/admin/login?ended=1');
    });
  });

  describe('managing accounts from the dashboard', () => {
    it('uploads through the form, reports the counts and lists the tokens masked', async () => {
      const admin = await signIn(stack);
      const first = accessToken('first@example.com');
      const second = accessToken('second@example.com');
      const response = await postForm(stack, admin, '/admin/tokens', {
        tokens: `${first}\r\n${second}\n\n# a comment\n${first}\nnot-a-token\n`,
      }).expect(303);
      expect(response.headers.location).toBe('/admin');
      expect(await flashAfter(stack, admin)).toBe('Added 2, 1 duplicate, 1 invalid (line 6).');

      const page = seen(await request(stack.url).get('/admin').set('Cookie', admin.cookie).set('Accept-Language', 'en').expect(200));
      expect(page.text).toContain(maskSecret(first));
      expect(page.text).toContain(maskSecret(second));
      expect(page.text).toContain('first@example.com');
      expect(page.text).not.toContain(first);
      expect(page.text).not.toContain(second);
      expect(page.text).toMatch(/class="stat-value">2<\/span><span class="stat-label">Total/);
      expect(await flashAfter(stack, admin)).toBeUndefined();
    });

    it('refuses a form body with a bad percent-escape instead of losing every line of it', async () => {
      const admin = await signIn(stack);
      const token = accessToken('escape@example.com');
      const refused = await request(stack.url)
        .post('/admin/tokens')
        .set('Cookie', admin.cookie)
        .set('Origin', stack.url)
        .type('form')
        .send(`_csrf=${encodeURIComponent(admin.csrf)}&tokens=caf%E9%0A${token}`);
      expect(refused.status).toBe(400);
      expect(refused.text).toContain('bad percent-escape');
      expect((await api(stack).get('/admin/api/tokens').expect(200)).text).not.toContain('escape@example.com');
    });

    it('says how large an upload may be when a token file is over MAX_BODY_SIZE, and keeps none of it', async () => {
      const admin = await signIn(stack);
      const token = accessToken('too-large@example.com');
      const refused = await postForm(stack, admin, '/admin/tokens', { tokens: `${token}\n${'#'.repeat(33 * 1024 * 1024)}` })
        .set('Accept-Language', 'en')
        .expect(413);
      expect(refused.headers['content-type']).toMatch(/^text\/html/);
      expect(refused.text).toContain('The request body is too large: more than 33554432 bytes (MAX_BODY_SIZE).');
      expect((await api(stack).get('/admin/api/tokens').expect(200)).text).not.toContain('too-large@example.com');
    });

    it('says so when there is nothing to upload', async () => {
      const admin = await signIn(stack);
      await postForm(stack, admin, '/admin/tokens', { tokens: '  \n# only a comment' }).expect(303);
      expect(await flashAfter(stack, admin)).toBe('Nothing to upload: paste one token a line.');
    });

    it('removes one account, restores a disabled one, and clears all (with flash messages)', async () => {
      const admin = await signIn(stack);
      await api(stack)
        .post('/admin/api/tokens', { tokens: [accessToken(), accessToken(), accessToken()] })
        .expect(200);
      const [first, second] = await accounts(stack);

      await postForm(stack, admin, `/admin/tokens/${first.id}/remove`).expect(303);
      expect(await flashAfter(stack, admin)).toBe(`Removed account ${first.id}.`);
      expect((await accounts(stack)).map((account) => account.id)).not.toContain(first.id);
      await postForm(stack, admin, `/admin/tokens/${first.id}/remove`).expect(303);
      expect(await flashAfter(stack, admin)).toMatch(/^No account/);

      await poolServicesOf(stack.app).leaser.report(second.id, { kind: 'forbidden', reason: 'banned' });
      const disabledPage = seen(await request(stack.url).get('/admin').set('Cookie', admin.cookie).expect(200));
      expect(disabledPage.text).toContain(`action="/admin/tokens/${second.id}/restore"`);
      expect(disabledPage.text).toContain('banned');
      await postForm(stack, admin, `/admin/tokens/${second.id}/restore`).expect(303);
      expect(await flashAfter(stack, admin)).toBe(`Restored account ${second.id} (Active).`);
      expect((await accounts(stack)).find((account) => account.id === second.id)!.state).toBe('active');

      await postForm(stack, admin, '/admin/tokens/clear').expect(303);
      expect(await flashAfter(stack, admin)).toBe('Removed all accounts (2).');
      expect((await accounts(stack)).length).toBe(0);
    });

    // 5000 accounts made a 5.7 MB page (three forms a row) that the browser took seconds to lay out.
    it('shows a large pool 100 accounts a page, and an action on a row comes back to that page', async () => {
      const admin = await signIn(stack);
      const tokens = Array.from({ length: 250 }, () => stack.fake.createRefreshToken());
      secrets.push(...tokens);
      await api(stack).post('/admin/api/tokens', { tokens }).expect(200);
      const all = await accounts(stack);
      const dashboard = async (query = '') =>
        seen(
          await request(stack.url).get(`/admin${query}`).set('Cookie', admin.cookie).set('Accept-Language', 'en').expect(200),
        ).text.replace(/&#x3D;/g, '=');
      const rows = (html: string) => [...html.matchAll(/action="\/admin\/tokens\/([^/"]+)\/remove"/g)].map(([, id]) => id);

      const first = await dashboard();
      expect(rows(first)).toEqual(all.slice(0, 100).map((account) => account.id));
      expect(first).toMatch(/class="stat-value">250<\/span><span class="stat-label">Total/);
      expect(first).toContain('Accounts 1–100 of 250');
      expect(first).toContain('href="/admin?page=2#accounts"');
      expect(first.length).toBeLessThan(250_000);
      const last = await dashboard('?page=3');
      expect(rows(last)).toEqual(all.slice(200).map((account) => account.id));
      expect(last).toContain('Accounts 201–250 of 250');
      expect(last).toContain('href="/admin?page=2#accounts"');
      expect(rows(await dashboard('?page=99'))).toEqual(rows(last));
      expect(rows(await dashboard('?page=abc'))).toEqual(rows(first));

      const second = await dashboard('?page=2');
      expect(second).toContain('<input type="hidden" name="page" value="2">');
      const removed = await postForm(stack, admin, `/admin/tokens/${all[150].id}/remove`, { page: '2' }).expect(303);
      expect(removed.headers.location).toBe('/admin?page=2');
      expect(await flashAfter(stack, admin)).toBe(`Removed account ${all[150].id}.`);
      expect((await postForm(stack, admin, `/admin/tokens/${all[0].id}/remove`, { page: '../../x' }).expect(303)).headers.location).toBe(
        '/admin',
      );
    });

    it('force-refreshes one refresh-token account and all of them', async () => {
      const admin = await signIn(stack);
      const refreshToken = stack.fake.createRefreshToken({ account: { plan: 'team' } });
      secrets.push(refreshToken);
      await api(stack)
        .post('/admin/api/tokens', { tokens: [refreshToken] })
        .expect(200);
      const [account] = await accounts(stack);
      await postForm(stack, admin, `/admin/tokens/${account.id}/refresh`).expect(303);
      expect(await flashAfter(stack, admin)).toBe(`Refreshed account ${account.id}.`);
      await postForm(stack, admin, '/admin/refresh').expect(303);
      expect(await flashAfter(stack, admin)).toBe('Refresh: 1 refreshed, 0 failed, 0 disabled, 0 skipped.');
      seen(await request(stack.url).get('/admin').set('Cookie', admin.cookie).expect(200));
    });
  });

  describe('managing accounts through the JSON API', () => {
    it('uploads, lists masked, removes one and clears all', async () => {
      const tokens = [accessToken('a@example.com'), accessToken('b@example.com'), accessToken('c@example.com')];
      const upload = seen(
        await api(stack)
          .post('/admin/api/tokens', { tokens: [...tokens, tokens[0], 'garbage', ''] })
          .expect(200),
      );
      expect(upload.body).toEqual({ added: 3, replaced: 0, duplicates: 1, invalid: 1, invalidLines: [5] });

      const list = seen(await api(stack).get('/admin/api/tokens').expect(200));
      expect(list.body.counts).toEqual({ total: 3, active: 3, rate_limited: 0, expired: 0, disabled: 0 });
      expect(list.body.data.map((account: AccountView) => account.maskedToken).sort()).toEqual(tokens.map(maskSecret).sort());
      expect(list.body.data[0]).toMatchObject({ id: expect.any(String), kind: 'access_token', state: 'active', failures: 0 });

      const [first] = list.body.data as AccountView[];
      expect((await api(stack).delete(`/admin/api/tokens/${first.id}`).expect(200)).body).toEqual({ id: first.id, deleted: true });
      const unknown = await api(stack).delete(`/admin/api/tokens/${first.id}`).expect(404);
      expect(unknown.body.error).toMatchObject({ type: 'invalid_request_error', code: 'account_not_found' });
      await api(stack).post('/admin/api/tokens/no-such-account/restore').expect(404);

      expect((await api(stack).delete('/admin/api/tokens').expect(200)).body).toEqual({ removed: 2 });
      expect((await accounts(stack)).length).toBe(0);
    });

    it('refreshes a refresh token, disables one the auth server rejects, and restores it', async () => {
      const good = stack.fake.createRefreshToken({ account: { email: 'rt@example.com', plan: 'plus' } });
      const revoked = stack.fake.createRefreshToken();
      secrets.push(good, revoked);
      seen(
        await api(stack)
          .post('/admin/api/tokens', { tokens: [good, revoked] })
          .expect(200),
      );
      stack.fake.revokeRefreshToken(revoked);

      const summary = seen(await api(stack).post('/admin/api/refresh').expect(200));
      expect(summary.body).toEqual({ attempted: 2, refreshed: 1, failed: 0, disabled: 1, skipped: 0 });

      const list = seen(await api(stack).get('/admin/api/tokens').expect(200));
      const byMask = (token: string) => (list.body.data as AccountView[]).find((account) => account.maskedToken === maskSecret(token))!;
      expect(byMask(good)).toMatchObject({
        kind: 'refresh_token',
        state: 'active',
        email: 'rt@example.com',
        accessTokenExpiresAt: expect.any(Number),
      });
      expect(byMask(revoked)).toMatchObject({
        kind: 'refresh_token',
        state: 'disabled',
        stateReason: expect.stringContaining('invalid_grant'),
      });
      expect(list.body.counts).toMatchObject({ total: 2, active: 1, disabled: 1 });

      const one = await api(stack)
        .post('/admin/api/refresh', { id: byMask(good).id, force: true })
        .expect(200);
      expect(one.body).toMatchObject({ attempted: 1, refreshed: 1 });
      await api(stack).post('/admin/api/refresh', { id: 'no-such-account' }).expect(404);
      const badBody = await api(stack).post('/admin/api/refresh', { force: 'yes' }).expect(400);
      expect(badBody.body.error.param).toBe('force');

      const restored = seen(
        await api(stack)
          .post(`/admin/api/tokens/${byMask(revoked).id}/restore`)
          .expect(200),
      );
      expect(restored.body).toMatchObject({ id: byMask(revoked).id, state: 'active', failures: 0 });
      expect(restored.body.stateReason).toBeUndefined();
    });
  });

  describe('two tokens on one line', () => {
    it('refuses a line of two comma-joined refresh tokens as invalid, instead of reading the second as a workspace id (found in review)', async () => {
      const first = `Rt1${'a'.repeat(20)}${'B'.repeat(22)}`;
      const second = `Rt2${'c'.repeat(20)}${'D'.repeat(22)}`;
      secrets.push(first, second);
      const upload = await api(stack)
        .post('/admin/api/tokens', { tokens: [`${first},${second}`] })
        .expect(200);
      expect(upload.body).toEqual({ added: 0, replaced: 0, duplicates: 0, invalid: 1, invalidLines: [1] });
      const listed = seen(await api(stack).get('/admin/api/tokens').expect(200));
      expect(listed.text).not.toContain(second);
      const workspace = '7d6c5b4a-3f2e-4d1c-9b0a-112233445566';
      await api(stack)
        .post('/admin/api/tokens', { tokens: [`${first},${workspace}`] })
        .expect(200);
      expect(await accounts(stack)).toEqual([expect.objectContaining({ kind: 'refresh_token', chatgptAccountId: workspace })]);
    });
  });

  describe('seeds', () => {
    it('creates, lists masked and removes seeds through the API', async () => {
      await api(stack)
        .post('/admin/api/tokens', { tokens: [accessToken()] })
        .expect(200);
      const [account] = await accounts(stack);
      const random = await api(stack).post('/admin/api/seeds', {}).expect(201);
      expect(random.body.seed).toMatch(/^[\w-]{20,}$/);
      const named = await api(stack).post('/admin/api/seeds', { seed: 'team-seed-alice' }).expect(201);
      expect(named.body).toEqual({ seed: 'team-seed-alice' });
      // Creating it again changes nothing, and says so: 200 with the seed, not 201.
      expect((await api(stack).post('/admin/api/seeds', { seed: ' team-seed-alice ' }).expect(200)).body).toEqual({
        seed: 'team-seed-alice',
      });
      const refreshToken = stack.fake.createRefreshToken();
      secrets.push(refreshToken);
      const refused = seen(await api(stack).post('/admin/api/seeds', { seed: refreshToken }).expect(400));
      expect(refused.body.error.code).toBe('invalid_seed');
      for (const seed of ['ab', 'abcdefgh\r\nX: y', 'séedséedséed'])
        expect((await api(stack).post('/admin/api/seeds', { seed }).expect(400)).body.error).toMatchObject({
          code: 'invalid_seed',
          param: 'seed',
        });

      const list = seen(await api(stack).get('/admin/api/seeds').expect(200));
      expect(list.body.data).toEqual(
        expect.arrayContaining([
          { id: expect.stringMatching(/^seed-/), maskedSeed: maskSecret(random.body.seed), accountId: account.id, conversations: 0 },
          { id: expect.stringMatching(/^seed-/), maskedSeed: maskSecret('team-seed-alice'), accountId: account.id, conversations: 0 },
        ]),
      );
      expect(list.text).not.toContain('team-seed-alice');
      expect(list.text).not.toContain(random.body.seed);

      expect((await api(stack).delete('/admin/api/seeds', { seed: ' team-seed-alice\n' }).expect(200)).body).toEqual({ deleted: true });
      await api(stack).delete('/admin/api/seeds', { seed: 'team-seed-alice' }).expect(404);
      const [remaining] = (await api(stack).get('/admin/api/seeds').expect(200)).body.data;
      expect((await api(stack).delete(`/admin/api/seeds/${remaining.id}`).expect(200)).body).toEqual({ id: remaining.id, deleted: true });
      await api(stack).delete(`/admin/api/seeds/${remaining.id}`).expect(404);
      expect((await api(stack).get('/admin/api/seeds').expect(200)).body).toEqual({ data: [] });

      await api(stack).post('/admin/api/seeds', { seed: 'seed-one-of-two' }).expect(201);
      await api(stack).post('/admin/api/seeds', { seed: 'seed-two-of-two' }).expect(201);
      expect((await api(stack).delete('/admin/api/seeds', { all: true }).expect(200)).body).toEqual({ removed: 2 });
      expect((await api(stack).get('/admin/api/seeds').expect(200)).body).toEqual({ data: [] });
    });

    it('removes no seed for a DELETE whose body did not parse as JSON (found in review)', async () => {
      await api(stack).post('/admin/api/seeds', { seed: 'keep-me-seed-1' }).expect(201);
      await api(stack).post('/admin/api/seeds', { seed: 'delete-me-seed-2' }).expect(201);
      const refused = await api(stack)
        .delete('/admin/api/seeds')
        .set('Content-Type', 'application/x-www-form-urlencoded')
        .send('{"seed":"delete-me-seed-2"}')
        .expect(400);
      expect(refused.body.error).toMatchObject({ type: 'invalid_request_error', param: 'seed', code: 'missing_required_parameter' });
      expect((await api(stack).get('/admin/api/seeds').expect(200)).body.data).toHaveLength(2);
      await api(stack).delete('/admin/api/seeds?all=true').expect(200);
    });

    it('creates and removes seeds from the dashboard', async () => {
      const admin = await signIn(stack);
      await postForm(stack, admin, '/admin/seeds', { seed: 'dashboard-seed-1' }).expect(303);
      expect(await flashAfter(stack, admin)).toMatch(/^Seed ready: dashboard-seed-1\./);
      await postForm(stack, admin, '/admin/seeds', { seed: 'dashboard-seed-1' }).expect(303);
      expect(await flashAfter(stack, admin)).toBe('The seed dashboard-seed-1 already existed: nothing changed.');
      const page = await request(stack.url).get('/admin').set('Cookie', admin.cookie).expect(200);
      expect(page.text).toContain(maskSecret('dashboard-seed-1'));
      expect(page.text).not.toContain('dashboard-seed-1');

      await postForm(stack, admin, '/admin/seeds/remove', { seed: 'dashboard-seed-1' }).expect(303);
      expect(await flashAfter(stack, admin)).toBe(`Removed seed ${maskSecret('dashboard-seed-1')}.`);
      expect((await api(stack).get('/admin/api/seeds').expect(200)).body).toEqual({ data: [] });

      await postForm(stack, admin, '/admin/seeds', { seed: 'dashboard-seed-2' }).expect(303);
      await postForm(stack, admin, '/admin/seeds', { seed: 'dashboard-seed-3' }).expect(303);
      const [second] = (await api(stack).get('/admin/api/seeds').expect(200)).body.data;
      const withRows = await request(stack.url).get('/admin').set('Cookie', admin.cookie).expect(200);
      expect(withRows.text).toContain(`/admin/seeds/${second.id}/remove`);
      await postForm(stack, admin, `/admin/seeds/${second.id}/remove`, {}).expect(303);
      expect(await flashAfter(stack, admin)).toBe('Removed the seed.');
      expect((await api(stack).get('/admin/api/seeds').expect(200)).body.data).toHaveLength(1);
      await postForm(stack, admin, '/admin/seeds/clear', {}).expect(303);
      expect(await flashAfter(stack, admin)).toBe('Removed 1 seed.');
      expect((await api(stack).get('/admin/api/seeds').expect(200)).body).toEqual({ data: [] });
    });
  });
});

describe('Admin with only API_PREFIX', () => {
  let fake: FakeUpstream;
  let stack: Stack;

  beforeAll(async () => {
    fake = await FakeUpstream.start();
    stack = await startStack({ env: { API_PREFIX }, fakeUpstream: fake });
  });
  afterAll(async () => {
    await stack.close();
    await fake.close();
  });

  it('signs in by visiting /{API_PREFIX}', async () => {
    const entry = await request(stack.url).get(`/${API_PREFIX}`).expect(303);
    expect(entry.headers.location).toBe('/admin/enter');
    const handover = setCookies(entry).find((line) => line.startsWith('flowgpt_admin_entry='))!;
    expect(handover).not.toContain(API_PREFIX);
    const enter = await request(stack.url).get('/admin/enter').set('Cookie', handover.split(';')[0]).expect(303);
    expect(enter.headers.location).toBe('/admin');
    const cookie = sessionCookieOf(enter)!;
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    expect(cookie).not.toContain(API_PREFIX);
    await request(stack.url).get('/admin').set('Cookie', cookie.split(';')[0]).expect(200);
    expect(await browse(stack, new Map(), `/${API_PREFIX}`)).toMatchObject({ status: 200 });
  });

  it('ends the session the browser held when it signs in again at /{API_PREFIX}, so a copy of the old cookie no longer works', async () => {
    const old = await signIn(stack, API_PREFIX);
    const jar: CookieJar = new Map([[COOKIE, { value: old.cookie.slice(COOKIE.length + 1), path: '/admin' }]]);
    const dashboard = await browse(stack, jar, `/${API_PREFIX}`);
    expect(dashboard.status).toBe(200);
    expect(jar.get(COOKIE)?.value).not.toBe(old.cookie.slice(COOKIE.length + 1));
    const copy = await request(stack.url).get('/admin').set('Cookie', old.cookie).expect(303);
    expect(copy.headers.location).toBe('/admin/login');
  });

  it('leaves other single-segment paths to the rest of the app', async () => {
    const wrong = await request(stack.url).get('/prefix-7Hq3').expect(404);
    expect(sessionCookieOf(wrong)).toBeUndefined();
    expect(wrong.body).toEqual(errorShape);
    await request(stack.url).get('/healthz').expect(200);
  });

  it('accepts API_PREFIX in the form and as the bearer secret', async () => {
    await signIn(stack, API_PREFIX);
    await api(stack, API_PREFIX).get('/admin/api/tokens').expect(200);
    await api(stack, 'wrong').get('/admin/api/tokens').expect(401);
  });

  it('stops signing in by path after many guesses from one address, even with the right secret', async () => {
    const guesser = await startStack({ env: { API_PREFIX }, fakeUpstream: fake });
    try {
      for (let i = 0; i < 20; i++) await request(guesser.url).get(`/guess-number-${i}`).expect(404);
      await request(guesser.url).get('/favicon.ico').expect(404);
      const locked = await request(guesser.url).get(`/${API_PREFIX}`).expect(404);
      expect(sessionCookieOf(locked)).toBeUndefined();
      await request(guesser.url).get('/healthz').expect(200);
    } finally {
      await guesser.close();
    }
  });
});

describe('Admin with API_PREFIX as the secret, with the gateway', () => {
  const POOL_KEY = 'pool-key-for-admin-e2e-1';
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ env: { API_PREFIX, AUTHORIZATION: POOL_KEY, ENABLE_GATEWAY: 'true' } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  const models = () => request(stack.url).get(`/${API_PREFIX}/v1/models`).set('Authorization', `Bearer ${POOL_KEY}`);

  it('does not lock a network out of the API after it browsed pages and the web app sent its telemetry (found in review)', async () => {
    await models().expect(200);
    for (const page of ['codex', 'sora', 'explore', 'pricing', 'settings']) {
      for (let i = 0; i < 4; i++) await request(stack.url).get(`/${page}`);
    }
    for (let i = 0; i < 21; i++) await request(stack.url).post('/ces/v1/t').send({});
    await models().expect(200);
  });
});

describe('Admin without a secret', () => {
  let stack: Stack;
  let logged: string[];

  beforeAll(async () => {
    const spy = jest.spyOn(Logger.prototype, 'log');
    stack = await startStack();
    logged = spy.mock.calls.map((call) => String(call[0]));
    spy.mockRestore();
  });
  afterAll(() => stack.close());

  it('says at start-up how to enable the admin, once', () => {
    expect(logged.filter((line) => line.startsWith('Admin disabled: set ADMIN_KEY'))).toHaveLength(1);
  });

  it.each([
    ['GET', '/admin'],
    ['GET', '/admin/login'],
    ['POST', '/admin/login'],
    ['POST', '/admin/tokens/clear'],
    ['GET', '/admin/api/tokens'],
    ['DELETE', '/admin/api/tokens'],
  ])('answers 404 to %s %s', async (method, path) => {
    const agent = request(stack.url);
    const response = await (
      method === 'GET'
        ? agent.get(path)
        : method === 'POST'
          ? agent.post(path).type('form').send({ secret: '' })
          : agent.delete(path).set('Authorization', 'Bearer x')
    ).expect(404);
    expect(response.body).toEqual(errorShape);
  });
});

describe('Admin with REDIS_URL, as its own process', () => {
  const REDIS_URL = 'redis://127.0.0.1:6379';
  const prefix = `flowgpt-admin-e2e-${randomBytes(4).toString('hex')}:`;
  const dataDir = mkdtempSync(join(tmpdir(), 'flowgpt-admin-'));
  let server: ServerProcess;

  beforeAll(async () => {
    // A process of its own: in the test's process, the app would share the event loop of the client below.
    server = await startServer({ ADMIN_KEY, REDIS_URL, REDIS_PREFIX: prefix, METRICS_ENABLED: 'true', DATA_DIR: dataDir });
  });
  afterAll(async () => {
    await stopAllServers();
    rmSync(dataDir, { recursive: true, force: true });
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('answers concurrent calls that carry the right admin secret, never 429 (found in review)', async () => {
    // A pool of keep-alive connections, as automation has: the calls overlap on the server.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 100 });
    const call = (path: string) =>
      new Promise<number>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: server.port, path, agent, headers: { Authorization: `Bearer ${ADMIN_KEY}` } }, (response) => {
            response.resume();
            response.on('end', () => resolve(response.statusCode ?? 0));
          })
          .on('error', reject);
      });
    const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => call(i % 2 ? '/admin/api/tokens' : '/metrics')));
    agent.destroy();
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
  });
});

describe('Admin with REDIS_URL, when updates of one account keep colliding', () => {
  const prefix = `flowgpt-admin-e2e-${randomBytes(4).toString('hex')}:`;
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { ADMIN_KEY, REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PREFIX: prefix } });
  });
  afterAll(async () => {
    await stack.close();
    const redis = new Redis('redis://127.0.0.1:6379');
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('answers a 503 store_unavailable with Retry-After, not a 500', async () => {
    await api(stack)
      .post('/admin/api/tokens', { tokens: [stack.fake.createAccessToken({ email: 'busy@example.com' })] })
      .expect(200);
    const [account] = await accounts(stack);
    // Every compare-and-set of the store finds the value changed since it was read, as under a storm of writers.
    const client = stack.app.get(SharedState).connection!.client;
    const compareAndSet = jest.spyOn(client, 'eval').mockResolvedValue(0);
    try {
      const restore = await api(stack).post(`/admin/api/tokens/${account.id}/restore`);
      expect(restore.status).toBe(503);
      expect(restore.headers['retry-after']).toBe('5');
      expect(restore.body).toEqual({ ...errorShape, error: { ...errorShape.error, type: 'server_error', code: 'store_unavailable' } });
    } finally {
      compareAndSet.mockRestore();
    }
  });
});
