import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { SharedState } from '../common/shared-state/shared-state';
import { redisTestConnections, TEST_REDIS_URL } from '../common/shared-state/testing/redis-test-connections';
import { AppConfig } from '../config/app-config';
import { FakeClock } from '../token-pool/testing/fake-clock';
import { AdminSigningKey, SIGNING_KEY_FILE, STORED_KEY_RECHECK_MS } from './admin-signing-key';

describe('AdminSigningKey', () => {
  let dataDir: string;
  const shared = new SharedState(null, 'test:');
  const keyWith = (settings: Partial<AppConfig> = {}) =>
    new AdminSigningKey(Object.assign(new AppConfig(), { dataDir }, settings), shared, new FakeClock());

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'flowgpt-signing-'));
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it('keeps the key in DATA_DIR (0600), so a restart keeps the key, never a per-process random', async () => {
    const key = await keyWith().get();
    const path = join(dataDir, SIGNING_KEY_FILE);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const stored = await readFile(path, 'utf8');
    // A new process on the same folder signs the same way; another folder (another deployment) does not.
    expect(await keyWith().get()).toBe(key);
    expect(await readFile(path, 'utf8')).toBe(stored);
    const otherDir = await mkdtemp(join(tmpdir(), 'flowgpt-signing-'));
    try {
      expect(await keyWith({ dataDir: otherDir }).get()).not.toBe(key);
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  it('derives the key from SESSION_SECRET when it is set: two instances with it agree, and no file is written', async () => {
    const secret = 'a-session-secret-of-at-least-32-characters';
    const key = await keyWith({ sessionSecret: secret }).get();
    const otherDir = await mkdtemp(join(tmpdir(), 'flowgpt-signing-'));
    try {
      expect(await keyWith({ sessionSecret: secret, dataDir: otherDir }).get()).toBe(key);
      expect(await keyWith({ sessionSecret: `${secret}-other` }).get()).not.toBe(key);
      await expect(stat(join(dataDir, SIGNING_KEY_FILE))).rejects.toThrow();
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  it('makes no key until a cookie is signed or checked, so an app without an admin (which does neither) never creates one', async () => {
    const key = keyWith();
    expect(await readdir(dataDir)).toEqual([]);
    const { cookie } = await key.sign('session-id');
    expect(await readdir(dataDir)).toEqual([SIGNING_KEY_FILE]);
    expect(await keyWith().verify(cookie)).toEqual({ value: 'session-id', key: await key.get() });
    expect(await keyWith().verify('session-id')).toBeNull();
    expect(await keyWith().verify(`${cookie}x`)).toBeNull();
  });

  it('replaces a key file that holds no key (left empty by a crash), instead of failing every sign-in', async () => {
    const path = join(dataDir, SIGNING_KEY_FILE);
    await writeFile(path, '', { mode: 0o600 });
    const key = await keyWith().get();
    expect(key).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect((await readFile(path, 'utf8')).trim()).toBe(key);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await keyWith().get()).toBe(key);
    // Nothing is left behind under a temporary name.
    expect(await readdir(dataDir)).toEqual([SIGNING_KEY_FILE]);
  });

  it('makes one key when two first starts race on one folder', async () => {
    const keys = await Promise.all(Array.from({ length: 8 }, () => keyWith().get()));
    expect(new Set(keys).size).toBe(1);
    expect((await readFile(join(dataDir, SIGNING_KEY_FILE), 'utf8')).trim()).toBe(keys[0]);
    expect(await readdir(dataDir)).toEqual([SIGNING_KEY_FILE]);
  });
});

/** Instances on one Redis: each has its own connection, and all use one key prefix. */
describe('AdminSigningKey in Redis', () => {
  const redis = redisTestConnections();
  const clock = new FakeClock();
  const config = Object.assign(new AppConfig(), { dataDir: '/nonexistent' });
  /** An instance starting. */
  const instance = async () => new AdminSigningKey(config, new SharedState(await redis.open(), redis.prefix), clock);
  /** What an allkeys-* eviction, or a restart of a Redis without persistence, does to the key. */
  const redisLosesTheKey = async () => {
    const client = new Redis(TEST_REDIS_URL);
    try {
      await client.del(`${redis.prefix}admin:signing-key`);
    } finally {
      client.disconnect();
    }
  };

  afterAll(() => redis.cleanup());

  it('converges on the stored key when Redis lost it and an instance started since made another', async () => {
    const [one, two] = [await instance(), await instance()];
    const before = await one.sign('signed-before');
    expect((await two.verify(before.cookie))?.value).toBe('signed-before');

    await redisLosesTheKey();
    const restarted = await instance();
    const fresh = await restarted.sign('signed-on-the-restarted-one');
    expect(fresh.key).not.toBe(before.key);
    // Its cookies pass on the instances that had the old key: they read the stored one and adopt it...
    expect((await one.verify(fresh.cookie))?.value).toBe('signed-on-the-restarted-one');
    expect((await two.verify(fresh.cookie))?.value).toBe('signed-on-the-restarted-one');
    // ...and what they sign from then on passes on the restarted one.
    expect((await restarted.verify((await one.sign('signed-after')).cookie))?.value).toBe('signed-after');
    // A cookie of the lost key passes nowhere now (rather than on some instances only): its admin signs in once more.
    for (const each of [one, two, restarted]) expect(await each.verify(before.cookie)).toBeNull();
  });

  it('puts a lost key back when it reads it again, so that an instance started afterwards adopts it', async () => {
    const one = await instance();
    const before = await one.sign('signed-before');
    await redisLosesTheKey();
    clock.advance(STORED_KEY_RECHECK_MS);
    expect((await one.verify(before.cookie))?.value).toBe('signed-before');

    const restarted = await instance();
    expect((await restarted.verify(before.cookie))?.value).toBe('signed-before');
    expect((await restarted.sign('x')).key).toBe(before.key);
  });

  it('signs with the stored key even when it holds another one it read a moment ago', async () => {
    const [one, two] = [await instance(), await instance()];
    await one.sign('first');
    await redisLosesTheKey();
    const other = await two.sign('made-the-new-key');
    // `one` has not seen a cookie of the new key yet: a sign-in on it still gets a cookie every instance takes.
    const signed = await one.sign('signed-on-one');
    expect(signed.key).toBe(other.key);
    expect((await two.verify(signed.cookie))?.value).toBe('signed-on-one');
  });
});
