import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import request from 'supertest';
import { BrowserSessionStore } from '../src/auth/browser-session.store';
import { poolServicesOf } from '../src/token-pool/testing/pool-services';
import { FakeUpstream } from './fake-upstream/fake-upstream';
import { Stack, startStack } from './support/stack';

/**
 * An auth server that rotates RefreshTokens spends each one it exchanges. Whoever still holds an older value (an API
 * client that keeps its key, a browser session) must be refreshed with the newest, not with a spent one.
 * AccessTokens here live a minute, less than the five minutes before expiry at which a cached one is renewed: every
 * use exchanges, and so rotates.
 */
const REDIS_URL = 'redis://127.0.0.1:6379';
const POOL_KEY = 'rotation-pool-key';

describe('RefreshTokens that the auth server rotates', () => {
  let fake: FakeUpstream;
  let stack: Stack | undefined;

  beforeAll(async () => {
    fake = await FakeUpstream.start();
  });
  afterAll(() => fake.close());
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  it('an API client that keeps its first RefreshToken as its key keeps working', async () => {
    stack = await startStack({ fakeUpstream: fake });
    const refreshToken = fake.createRefreshToken({ rotate: true, accessTokenTtlSec: 60 });
    const client = stack.openai(refreshToken);
    for (let round = 0; round < 3; round++) {
      const completion = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
      expect(completion.choices[0].message.content).toBeTruthy();
    }
    expect(fake.isLiveRefreshToken(refreshToken)).toBe(false);
    const refreshes = fake.requests.filter((recorded) => recorded.path === '/oauth/token');
    expect(refreshes).toHaveLength(3);
  });

  /** The RefreshTokens sent to the auth server so far. */
  const presented = () =>
    fake.requests
      .filter((recorded) => recorded.path === '/oauth/token')
      .map((recorded) => (recorded.body as { refresh_token: string }).refresh_token);
  const ask = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: 'hi' }] };

  it('an API client that keeps its first RefreshToken as its key keeps working after a restart (the file store keeps the rotation)', async () => {
    stack = await startStack({ fakeUpstream: fake });
    const refreshToken = fake.createRefreshToken({ rotate: true, accessTokenTtlSec: 60 });
    const sentBefore = presented().length;
    expect((await stack.openai(refreshToken).chat.completions.create(ask)).choices[0].message.content).toBeTruthy();
    expect(fake.isLiveRefreshToken(refreshToken)).toBe(false);
    // A new process has no memory of the rotation: only what the store kept can lead it to the newest value.
    await stack.stopApp();
    await stack.restartApp();
    expect((await stack.openai(refreshToken).chat.completions.create(ask)).choices[0].message.content).toBeTruthy();
    const sent = presented().slice(sentBefore);
    expect(sent).toHaveLength(2);
    // The spent value was never sent again (an auth server may treat its reuse as theft and revoke the family).
    expect(sent.filter((value) => value === refreshToken)).toHaveLength(1);
  });

  /**
   * Two instances sharing a Redis of their own (`stack`, and `other` for the duration of `run`); the Redis keys are
   * removed afterwards.
   */
  async function withTwoInstances(run: (other: Stack) => Promise<void>, moreEnv: Record<string, string> = {}): Promise<void> {
    const prefix = `flowgpt-e2e-rotation-shared-${randomBytes(4).toString('hex')}:`;
    const env = { REDIS_URL, REDIS_PREFIX: prefix, ...moreEnv };
    const redis = new Redis(REDIS_URL, { lazyConnect: true });
    await redis.connect();
    const other = await startStack({ fakeUpstream: fake, env });
    try {
      stack = await startStack({ fakeUpstream: fake, env });
      await run(other);
    } finally {
      await other.close();
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    }
  }

  it('a RefreshToken rotated by one instance is exchanged with the newest value by another sharing Redis', async () => {
    await withTwoInstances(async (other) => {
      const refreshToken = fake.createRefreshToken({ rotate: true, accessTokenTtlSec: 60 });
      const sentBefore = presented().length;
      expect((await stack!.openai(refreshToken).chat.completions.create(ask)).choices[0].message.content).toBeTruthy();
      expect((await other.openai(refreshToken).chat.completions.create(ask)).choices[0].message.content).toBeTruthy();
      // Back to the first instance, whose memory still names the value the other one has spent since.
      expect((await stack!.openai(refreshToken).chat.completions.create(ask)).choices[0].message.content).toBeTruthy();
      const sent = presented().slice(sentBefore);
      expect(sent).toHaveLength(3);
      expect(new Set(sent).size).toBe(3);
    });
  });

  it('two instances sharing Redis that exchange the same RefreshToken at once send each value only once', async () => {
    await withTwoInstances(async (other) => {
      const refreshToken = fake.createRefreshToken({ rotate: true, accessTokenTtlSec: 60 });
      const sentBefore = presented().length;
      const answers = await Promise.all(
        [stack!, other, stack!, other].map((instance) => instance.openai(refreshToken).chat.completions.create(ask)),
      );
      expect(answers.every((answer) => Boolean(answer.choices[0].message.content))).toBe(true);
      const sent = presented().slice(sentBefore);
      expect(new Set(sent).size).toBe(sent.length);
    });
  });

  /** The pool accounts' states, for the test's failure output. */
  const poolStates = async (instance: Stack) =>
    (await poolServicesOf(instance.app).readModel.list()).map(
      (account) => `${account.state}${account.stateReason ? `: ${account.stateReason}` : ''}`,
    );
  const expectEverySentOnce = (sent: string[]) => expect(sent.filter((value, index) => sent.indexOf(value) !== index)).toEqual([]);

  it('a pool account and an API client holding the same RefreshToken on two instances sharing Redis never send a spent value', async () => {
    await withTwoInstances(
      async (other) => {
        const refreshToken = fake.createRefreshToken({ rotate: true, accessTokenTtlSec: 60 });
        await poolServicesOf(stack!.app).admin.upload([refreshToken]);
        const sentBefore = presented().length;
        // The pool account is renewed on one instance and so holds the second value; the client's first value is
        // then exchanged on the other, which spends the second value too.
        expect((await stack!.openai(POOL_KEY).chat.completions.create(ask)).choices[0].message.content).toBeTruthy();
        expect((await other.openai(refreshToken).chat.completions.create(ask)).choices[0].message.content).toBeTruthy();
        expect((await stack!.openai(POOL_KEY).chat.completions.create(ask)).choices[0].message.content).toBeTruthy();
        expect((await other.openai(refreshToken).chat.completions.create(ask)).choices[0].message.content).toBeTruthy();
        expect(await poolStates(stack!)).toEqual(['active']);
        const sent = presented().slice(sentBefore);
        expect(sent).toHaveLength(4);
        expectEverySentOnce(sent);
      },
      { AUTHORIZATION: POOL_KEY },
    );
  });

  it('a pool account and an API client holding the same RefreshToken never send a spent value after a restart (the file store)', async () => {
    stack = await startStack({ fakeUpstream: fake, env: { AUTHORIZATION: POOL_KEY } });
    const refreshToken = fake.createRefreshToken({ rotate: true, accessTokenTtlSec: 60 });
    await poolServicesOf(stack.app).admin.upload([refreshToken]);
    const sentBefore = presented().length;
    expect((await stack.openai(POOL_KEY).chat.completions.create(ask)).choices[0].message.content).toBeTruthy();
    expect((await stack.openai(refreshToken).chat.completions.create(ask)).choices[0].message.content).toBeTruthy();
    // The account still holds the value the client's exchange spent: only the store can say what replaced it.
    await stack.stopApp();
    await stack.restartApp();
    expect((await stack.openai(POOL_KEY).chat.completions.create(ask)).choices[0].message.content).toBeTruthy();
    expect(await poolStates(stack)).toEqual(['active']);
    const sent = presented().slice(sentBefore);
    expect(sent).toHaveLength(3);
    expectEverySentOnce(sent);
  });

  describe('a browser session signed in with one', () => {
    const prefix = `flowgpt-e2e-rotation-${randomBytes(4).toString('hex')}:`;
    const redis = new Redis(REDIS_URL, { lazyConnect: true });
    beforeAll(() => redis.connect());
    afterAll(async () => {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    });

    const signIn = async (url: string, token: string) => {
      const form = await request(url).get('/auth/login').expect(200);
      const formCookie = ((form.headers['set-cookie'] as unknown as string[]) ?? [])
        .find((line) => line.startsWith('flowgpt-sign-in='))!
        .split(';')[0];
      const csrf = /name="_csrf" value="([^"]*)"/.exec(form.text)![1];
      const signedIn = await request(url)
        .post('/auth/login')
        .set('Cookie', formCookie)
        .set('Origin', url)
        .type('form')
        .send({ _csrf: csrf, token, next: '/' });
      expect(signedIn.status).toBe(303);
      const cookie = ((signedIn.headers['set-cookie'] as unknown as string[]) ?? [])
        .find((line) => line.startsWith('flowgpt-session='))!
        .split(';')[0];
      const session = (await request(url).get('/api/auth/session').set('Cookie', cookie).expect(200)).body as { accessToken: string };
      return { standIn: session.accessToken };
    };
    /** The RefreshToken the session's record holds (server side: neither the cookie nor the stand-in carries it). */
    const storedToken = async (standIn: string) => (await stack!.app.get(BrowserSessionStore).byStandInToken(standIn))?.credential?.token;

    it('keeps the newest RefreshToken, and so still signs in after a restart has forgotten the rotations', async () => {
      stack = await startStack({
        fakeUpstream: fake,
        env: { ENABLE_GATEWAY: 'true', TRUSTED_PROXIES: '127.0.0.1, ::1', REDIS_URL, REDIS_PREFIX: prefix },
      });
      const refreshToken = fake.createRefreshToken({ rotate: true, accessTokenTtlSec: 60, account: { email: 'rotating@example.com' } });
      const { standIn } = await signIn(stack.url, refreshToken);

      // Each proxied call exchanges (and rotates) the session's RefreshToken.
      for (let round = 0; round < 2; round++) {
        const me = await request(stack.url).get('/backend-api/me').set('Authorization', `Bearer ${standIn}`);
        expect(me.status).toBe(200);
        expect(me.body.email).toBe('rotating@example.com');
      }
      const kept = await storedToken(standIn);
      expect(kept).not.toBe(refreshToken);
      expect(fake.isLiveRefreshToken(kept!)).toBe(true);

      // A new process knows nothing of the rotations: only what the session stored can sign it in.
      await stack.stopApp();
      await stack.restartApp();
      const me = await request(stack.url).get('/backend-api/me').set('Authorization', `Bearer ${standIn}`);
      expect(me.status).toBe(200);
      expect(me.body.email).toBe('rotating@example.com');
      expect(fake.isLiveRefreshToken(kept!)).toBe(false);
      expect(fake.isLiveRefreshToken((await storedToken(standIn))!)).toBe(true);
    });
  });
});
