import { Redis } from 'ioredis';
import { SharedState } from '../common/shared-state/shared-state';
import { redisTestConnections, TEST_REDIS_URL } from '../common/shared-state/testing/redis-test-connections';
import { Clock } from '../common/vocabulary/clock';
import { loadConfig } from '../config/load-config';
import { createHmac } from 'node:crypto';
import { AdminSecret } from './admin-secret.service';
import { AdminSigningKey } from './admin-signing-key';
import { ADMIN_SESSION_TTL_MS, AdminSessionStore } from './admin-session.store';

class ManualClock extends Clock {
  time = 1_700_000_000_000;
  now(): number {
    return this.time;
  }
}

describe('AdminSessionStore', () => {
  let clock: ManualClock;
  let shared: SharedState;
  let store: AdminSessionStore;

  beforeEach(() => {
    clock = new ManualClock();
    shared = new SharedState(null, 'test:');
    store = storeUnder('admin-secret-one');
  });

  const secretOf = (key: string) => new AdminSecret(loadConfig({ ADMIN_KEY: key }));
  const storeUnder = (key: string, sessionSecret = 'deployment-one-session-secret-of-32-chars') =>
    new AdminSessionStore(shared, clock, secretOf(key), new AdminSigningKey(loadConfig({ SESSION_SECRET: sessionSecret }), shared, clock));

  it('ends every session made under another admin secret: rotating a leaked secret locks its holder out', async () => {
    const { cookieValue } = await store.create();
    expect(await storeUnder('admin-secret-one').fromCookie(cookieValue)).not.toBeNull();
    expect(await storeUnder('admin-secret-two').fromCookie(cookieValue)).toBeNull();
    expect(JSON.stringify(await store.fromCookie(cookieValue))).not.toContain('admin-secret-one');
  });

  it('keeps a fingerprint of the secret that a copy of the store cannot test guesses against at hash speed (found in review)', async () => {
    const { session } = await store.create();
    const { session: elsewhere } = await storeUnder('admin-secret-one', 'deployment-two-session-secret-of-32-chars').create();
    // Salted per deployment, and no fast keyed hash of the secret alone.
    expect(session.secret).not.toBe(elsewhere.secret);
    expect(session.secret).not.toBe(createHmac('sha256', 'flowgpt admin session').update('admin-secret-one').digest('base64url'));
    expect(session.secret).toMatch(/^[\w-]{43}$/);
  });

  it('finds a session by the id its signed cookie holds, and nothing for a missing, unsigned, forged or unknown one', async () => {
    const { session, cookieValue } = await store.create();
    expect(cookieValue.startsWith(`s:${session.id}.`)).toBe(true);
    expect(await store.fromCookie(cookieValue)).toEqual(session);
    expect(session.csrfToken).toMatch(/^[\w-]{32}$/);
    expect(await store.fromCookie(undefined)).toBeNull();
    expect(await store.fromCookie(session.id)).toBeNull();
    expect(await store.fromCookie(`s:${session.id}.${'A'.repeat(43)}`)).toBeNull();
    const other = await storeUnder('admin-secret-one', 'deployment-two-session-secret-of-32-chars').create();
    expect(await store.fromCookie(other.cookieValue)).toBeNull();
    expect(await store.fromCookie(cookieValue.replace(session.id, 'AAAA' + session.id.slice(4)))).toBeNull();
  });

  it('ends a session after 12 hours or when destroyed', async () => {
    const first = await store.create();
    clock.time += ADMIN_SESSION_TTL_MS - 1;
    expect(await store.fromCookie(first.cookieValue)).not.toBeNull();
    clock.time += 1;
    expect(await store.fromCookie(first.cookieValue)).toBeNull();

    const second = await store.create();
    await store.destroy(second.session);
    expect(await store.fromCookie(second.cookieValue)).toBeNull();
  });

  it('hands a flash message out once, also when the next request reads the session anew', async () => {
    const { session, cookieValue } = await store.create();
    await store.setFlash(session, { kind: 'success', key: 'flash.seedRemoved' });
    const next = (await store.fromCookie(cookieValue))!;
    expect(await store.takeFlash(next)).toEqual({ kind: 'success', key: 'flash.seedRemoved' });
    expect(await store.takeFlash((await store.fromCookie(cookieValue))!)).toBeUndefined();
  });
});

describe('AdminSessionStore, instances on one Redis', () => {
  const redis = redisTestConnections();
  const clock = new ManualClock();
  afterAll(() => redis.cleanup());

  /** An instance starting: its own connection, secret and signing key; no SESSION_SECRET, so the key is kept in Redis. */
  const instance = async () => {
    const config = loadConfig({ ADMIN_KEY: 'admin-secret-of-the-deployment' });
    const shared = new SharedState(await redis.open(), redis.prefix);
    return new AdminSessionStore(shared, clock, new AdminSecret(config), new AdminSigningKey(config, shared, clock));
  };

  it('keeps every instance signed in with a session made after Redis lost the signing key and a restarted instance made another', async () => {
    const [one, two] = [await instance(), await instance()];
    const before = await one.create();
    expect(await two.fromCookie(before.cookieValue)).not.toBeNull();

    const client = new Redis(TEST_REDIS_URL);
    await client.del(`${redis.prefix}admin:signing-key`).finally(() => client.disconnect());
    const restarted = await instance();
    const after = await restarted.create();
    for (const each of [one, two, restarted]) expect(await each.fromCookie(after.cookieValue)).toEqual(after.session);
    const signedInOnOne = await one.create();
    for (const each of [one, two, restarted]) expect(await each.fromCookie(signedInOnOne.cookieValue)).toEqual(signedInOnOne.session);
  });
});
