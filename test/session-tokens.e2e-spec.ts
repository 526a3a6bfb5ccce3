import { APIError } from 'openai';
import request from 'supertest';
import { BrowserSessions } from '../src/auth/browser-session';
import { accountIdFor } from '../src/token-pool/account-record';
import { poolServicesOf } from '../src/token-pool/testing/pool-services';
import { FakeClock } from '../src/token-pool/testing/fake-clock';
import { FakeUpstream, type RecordedRequest } from './fake-upstream/fake-upstream';
import { Stack, startStack } from './support/stack';

jest.setTimeout(120_000);

/**
 * SessionTokens (issue 11): the `__Secure-next-auth.session-token` cookie as an API key, in the pool, refreshed
 * through `/api/auth/session`, rotated, revoked, and at the browser sign-in. Real HTTP through the official SDK
 * against the fake upstream; time moves only when the test moves the app's clock.
 */
const POOL_KEY = 'pool-key-for-session-tokens';
const ADMIN_KEY = 'admin-key-for-session-tokens';
const HOUR = 3_600_000;

describe('SessionTokens', () => {
  let fake: FakeUpstream;
  let stack: Stack | undefined;
  let clock: FakeClock;
  /** How far the app's clock runs ahead of the fake's (which issues AccessTokens by real time). */
  let ahead: number;

  beforeAll(async () => {
    fake = await FakeUpstream.start();
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.reset());
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  const boot = async (env: Record<string, string> = {}) => {
    clock = new FakeClock(Date.now());
    ahead = 0;
    stack = await startStack({ fakeUpstream: fake, clock, env: { AUTHORIZATION: POOL_KEY, ADMIN_KEY, RANDOM_TOKEN: 'false', ...env } });
    return stack;
  };
  const chat = (apiKey: string) =>
    stack!.openai(apiKey).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Who answers?' }] });
  const sessionCalls = (): RecordedRequest[] => fake.requests.filter((r) => r.path === '/api/auth/session');
  const cookieOf = (r: RecordedRequest) => /__Secure-next-auth\.session-token=([^;]+)/.exec(String(r.headers.cookie ?? ''))?.[1];
  const conversationBearers = () => fake.conversationRequests().map((r) => String(r.headers.authorization).replace(/^Bearer /, ''));
  const admin = () => request(stack!.url);
  const accountView = async (id: string) =>
    ((await admin().get('/admin/api/tokens').set('Authorization', `Bearer ${ADMIN_KEY}`).expect(200)).body.data as { id: string }[]).find(
      (a) => a.id === id,
    ) as Record<string, unknown> | undefined;
  /**
   * The session's AccessToken expires upstream now, and the app's clock moves three hours, past its `exp` (renewal
   * due). The next AccessToken the fake issues lives an hour past the app's new time.
   */
  const expireAccessToken = (sessionToken: string) => {
    ahead += 3 * HOUR;
    fake.sessionAuth.expireAccessToken(sessionToken, { nextTtlSec: (ahead + HOUR) / 1000 });
    clock.advance(3 * HOUR);
  };

  describe('as an API key', () => {
    it('gets the AccessToken from /api/auth/session once, and keeps working with the old value after the cookie rotates', async () => {
      await boot();
      const sessionToken = fake.createSessionToken({ accessTokenTtlSec: 3600 });

      const first = await chat(sessionToken);
      expect(first.choices[0].message.content).toBeTruthy();
      expect(sessionCalls()).toHaveLength(1);
      expect(cookieOf(sessionCalls()[0])).toBe(sessionToken);
      expect(sessionCalls()[0].headers['user-agent']).toMatch(/Mozilla/);
      const accessToken = fake.sessionAuth.accessTokenOf(sessionToken)!;
      expect(conversationBearers()).toEqual([accessToken]);

      // Cached until shortly before it expires: no second exchange.
      await chat(sessionToken);
      expect(sessionCalls()).toHaveLength(1);

      // The upstream rotated the cookie on that answer; the old value now stops working upstream, and the
      // AccessToken expires. The client keeps sending the old value: the app exchanges the newest one.
      const rotated = fake.sessionAuth.currentValue(sessionToken)!;
      expect(rotated).not.toBe(sessionToken);
      fake.sessionAuth.expireValue(sessionToken);
      expireAccessToken(sessionToken);
      const after = await chat(sessionToken);
      expect(after.choices[0].message.content).toBeTruthy();
      expect(sessionCalls().map(cookieOf)).toEqual([sessionToken, rotated]);
      expect(conversationBearers().at(-1)).not.toBe(accessToken);
    });

    it('is refused with 401 invalid_api_key once the session is signed out', async () => {
      await boot();
      const sessionToken = fake.createSessionToken();
      fake.sessionAuth.revoke(sessionToken);
      const error = (await chat(sessionToken).catch((caught: unknown) => caught)) as APIError;
      expect(error).toBeInstanceOf(APIError);
      expect(error.status).toBe(401);
      expect(error.error).toMatchObject({ code: 'invalid_api_key', message: expect.stringContaining('session token was rejected') });
      expect(JSON.stringify(error.error)).not.toContain(sessionToken);
      expect(fake.conversationRequests()).toHaveLength(0);
    });

    it('accepts the explicit st: form', async () => {
      await boot();
      const sessionToken = fake.createSessionToken();
      expect((await chat(`st:${sessionToken}`)).choices[0].message.content).toBeTruthy();
      expect(cookieOf(sessionCalls()[0])).toBe(sessionToken);
    });
  });

  describe('in the pool', () => {
    it('is uploaded through the admin API, shown masked with its kind, refreshed once under concurrency, and keeps its rotated value', async () => {
      await boot();
      const sessionToken = fake.createSessionToken({ accessTokenTtlSec: 3600, account: { email: 'pooled@example.com' } });
      const upload = await admin()
        .post('/admin/api/tokens')
        .set('Authorization', `Bearer ${ADMIN_KEY}`)
        .send({ tokens: [sessionToken] })
        .expect(200);
      expect(upload.body).toMatchObject({ added: 1, invalid: 0 });
      const id = accountIdFor(sessionToken);
      const view = await accountView(id);
      expect(view).toMatchObject({
        kind: 'session_token',
        state: 'active',
        maskedToken: `${sessionToken.slice(0, 6)}…${sessionToken.slice(-4)}`,
      });
      expect(JSON.stringify(view)).not.toContain(sessionToken);
      const dashboard = await admin().get('/admin/api/tokens').set('Authorization', `Bearer ${ADMIN_KEY}`);
      expect(dashboard.text).not.toContain(sessionToken);

      await chat(POOL_KEY);
      expect(sessionCalls()).toHaveLength(1);
      const firstAccessToken = fake.sessionAuth.accessTokenOf(sessionToken)!;
      expect(conversationBearers()).toEqual([firstAccessToken]);
      expect(await accountView(id)).toMatchObject({ email: 'pooled@example.com' });

      // The AccessToken expires: the next requests, all at once, share one exchange, sent with the rotated cookie.
      const rotated = fake.sessionAuth.currentValue(sessionToken)!;
      expireAccessToken(sessionToken);
      const answers = await Promise.all(Array.from({ length: 5 }, () => chat(POOL_KEY)));
      expect(answers.every((answer) => Boolean(answer.choices[0].message.content))).toBe(true);
      expect(sessionCalls()).toHaveLength(2);
      expect(cookieOf(sessionCalls()[1])).toBe(rotated);
      const secondAccessToken = fake.sessionAuth.accessTokenOf(sessionToken)!;
      expect(secondAccessToken).not.toBe(firstAccessToken);
      expect(conversationBearers().slice(1)).toEqual(Array(5).fill(secondAccessToken));

      // The record holds the newest value: after a restart (no memory of the rotation), with both older values dead
      // upstream, the account still renews, with the value the upstream set last.
      const newest = fake.sessionAuth.currentValue(sessionToken)!;
      fake.sessionAuth.expireValue(sessionToken);
      fake.sessionAuth.expireValue(rotated);
      await stack!.restartApp();
      expireAccessToken(sessionToken);
      expect((await chat(POOL_KEY)).choices[0].message.content).toBeTruthy();
      expect(cookieOf(sessionCalls().at(-1)!)).toBe(newest);
      expect(await accountView(id)).toMatchObject({ state: 'active', kind: 'session_token' });
    });

    it('disables the account with a clear reason when the session is revoked, and the pool answers 503', async () => {
      await boot();
      const sessionToken = fake.createSessionToken({ accessTokenTtlSec: 3600 });
      await poolServicesOf(stack!.app).admin.upload([sessionToken]);
      await chat(POOL_KEY);

      fake.sessionAuth.revoke(sessionToken);
      expireAccessToken(sessionToken);
      const error = (await chat(POOL_KEY).catch((caught: unknown) => caught)) as APIError;
      expect(error).toBeInstanceOf(APIError);
      expect(error.status).toBe(503);
      const view = await accountView(accountIdFor(sessionToken));
      expect(view).toMatchObject({ state: 'disabled', stateReason: expect.stringContaining('session token rejected') });

      // An admin refresh does not bring it back, and a restored account is refused again at its next renewal.
      expect(await poolServicesOf(stack!.app).refresher.refresh({ force: true })).toMatchObject({ attempted: 0 });
      await poolServicesOf(stack!.app).admin.restore(accountIdFor(sessionToken));
      expect(await poolServicesOf(stack!.app).refresher.refresh({ id: accountIdFor(sessionToken) })).toMatchObject({ disabled: 1 });
    });
  });

  describe('at the browser sign-in', () => {
    it('signs the owner in, and the live page is fetched signed in with the newest cookie value', async () => {
      await boot({ ENABLE_GATEWAY: 'true', TRUSTED_PROXIES: '127.0.0.1, ::1' });
      const sessionToken = fake.createSessionToken({ account: { email: 'browser-owner@example.com' } });
      const form = await request(stack!.url).get('/auth/login').expect(200);
      const formCookie = ((form.headers['set-cookie'] as unknown as string[]) ?? [])
        .find((line) => line.startsWith('flowgpt-sign-in='))!
        .split(';')[0];
      const csrf = /name="_csrf" value="([^"]*)"/.exec(form.text)![1];
      const signedIn = await request(stack!.url)
        .post('/auth/login')
        .set('Cookie', formCookie)
        .set('Origin', stack!.url)
        .type('form')
        .send({ _csrf: csrf, token: sessionToken, next: '/' });
      expect(signedIn.status).toBe(303);
      const cookie = ((signedIn.headers['set-cookie'] as unknown as string[]) ?? [])
        .find((line) => line.startsWith('flowgpt-session='))!
        .split(';')[0];
      expect(cookie).not.toContain(sessionToken);
      const session = (await request(stack!.url).get('/api/auth/session').set('Cookie', cookie).expect(200)).body as {
        accessToken: string;
        user: { email: string };
      };
      expect(session.user.email).toBe('browser-owner@example.com');
      expect(session.accessToken).toMatch(/^fgst-/);

      const sessions = stack!.app.get(BrowserSessions);
      const account = await sessions.accountFor((await sessions.fromStandInToken(session.accessToken))!);
      const newest = fake.sessionAuth.currentValue(sessionToken)!;
      expect(account.sessionToken).toBe(newest);
      expect(account.accessToken).toBe(fake.sessionAuth.accessTokenOf(sessionToken));

      const page = await request(stack!.url).get('/').set('Cookie', cookie);
      expect(page.status).toBe(200);
      expect(page.text).toContain('logged_in');
      expect(page.text).not.toContain(newest);
      expect(page.text).not.toContain(account.accessToken);
      const fetched = fake.requests.filter((r) => r.path === '/').pop();
      expect(fetched && cookieOf(fetched)).toBe(newest);
    });

    it('refuses a signed-out SessionToken with its own message', async () => {
      await boot({ ENABLE_GATEWAY: 'true', TRUSTED_PROXIES: '127.0.0.1, ::1' });
      const sessionToken = fake.createSessionToken();
      fake.sessionAuth.revoke(sessionToken);
      const form = await request(stack!.url).get('/auth/login').set('Accept-Language', 'en').expect(200);
      const formCookie = ((form.headers['set-cookie'] as unknown as string[]) ?? [])
        .find((line) => line.startsWith('flowgpt-sign-in='))!
        .split(';')[0];
      const csrf = /name="_csrf" value="([^"]*)"/.exec(form.text)![1];
      const refused = await request(stack!.url)
        .post('/auth/login')
        .set('Cookie', formCookie)
        .set('Origin', stack!.url)
        .set('Accept-Language', 'en')
        .type('form')
        .send({ _csrf: csrf, token: sessionToken, next: '/' });
      expect(refused.status).toBe(401);
      expect(/role="alert" data-reason="(\w+)"/.exec(refused.text)?.[1]).toBe('sessionRefused');
      expect(refused.text).toContain('chatgpt.com does not know this session token');
    });
  });
});
