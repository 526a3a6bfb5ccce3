import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { AdminSigningKey } from '../admin/admin-signing-key';
import { SharedState } from '../common/shared-state/shared-state';
import { redisTestConnections, TEST_REDIS_URL } from '../common/shared-state/testing/redis-test-connections';
import { AppConfig } from '../config/app-config';
import { FakeClock } from '../token-pool/testing/fake-clock';
import { LinkTokenSeal } from './link-token-seal';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.the-client-token.sig';
const LINK = 'L'.repeat(32);

describe('LinkTokenSeal', () => {
  let dataDir: string;
  const sealIn = (settings: Partial<AppConfig> = {}) => {
    const config = Object.assign(new AppConfig(), { dataDir }, settings);
    return new LinkTokenSeal(config, new AdminSigningKey(config, new SharedState(null, 'test:'), new FakeClock()));
  };

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'flowgpt-link-seal-'));
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it("seals under the install's key in DATA_DIR: a restart opens it, another install does not", async () => {
    const sealed = await sealIn().seal(TOKEN, LINK);
    expect(sealed).not.toContain('the-client-token');
    expect(await sealIn().open(sealed, LINK)).toBe(TOKEN);
    expect(await sealIn().open(sealed, 'M'.repeat(32))).toBeNull();
    const other = dataDir;
    dataDir = await mkdtemp(join(tmpdir(), 'flowgpt-link-seal-'));
    try {
      expect(await sealIn().open(sealed, LINK)).toBeNull();
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('seals under SESSION_SECRET when it is set, writing no key file', async () => {
    const sessionSecret = 'a-session-secret-of-at-least-32-characters';
    const sealed = await sealIn({ sessionSecret }).seal(TOKEN, LINK);
    expect(await sealIn({ sessionSecret }).open(sealed, LINK)).toBe(TOKEN);
    expect(await sealIn({ sessionSecret: `${sessionSecret}-changed` }).open(sealed, LINK)).toBeNull();
    expect(await readdir(dataDir)).toEqual([]);
  });

  it('opens nothing that is not its own sealed format', async () => {
    expect(await sealIn().open(TOKEN, LINK)).toBeNull();
    expect(await sealIn().open('v1.AAAA', LINK)).toBeNull();
  });
});

describe('LinkTokenSeal in Redis', () => {
  const redis = redisTestConnections();
  const config = Object.assign(new AppConfig(), { dataDir: '/nonexistent' });
  const instance = async () =>
    new LinkTokenSeal(config, new AdminSigningKey(config, new SharedState(await redis.open(), redis.prefix), new FakeClock()));
  afterAll(() => redis.cleanup());

  it('opens on every instance, also after Redis lost the key and an instance sealed under a new one', async () => {
    const first = await instance();
    const second = await instance();
    expect(await second.open(await first.seal(TOKEN, LINK), LINK)).toBe(TOKEN);

    const client = new Redis(TEST_REDIS_URL);
    try {
      await client.del(`${redis.prefix}admin:signing-key`);
    } finally {
      client.disconnect();
    }
    const started = await instance();
    const sealedAnew = await started.seal(TOKEN, LINK);
    // `second` still holds the lost key: it reads the stored one when that does not open the token.
    expect(await second.open(sealedAnew, LINK)).toBe(TOKEN);
  });

  it('seals under the key Redis holds now, not one an instance read before Redis lost it', async () => {
    const held = await instance();
    await held.seal(TOKEN, LINK);
    const client = new Redis(TEST_REDIS_URL);
    try {
      await client.del(`${redis.prefix}admin:signing-key`);
    } finally {
      client.disconnect();
    }
    // Another instance starts meanwhile and makes the key anew; `held` read its own less than a minute ago.
    const started = await instance();
    await started.seal(TOKEN, LINK);
    const sealed = await held.seal(TOKEN, LINK);
    expect(await started.open(sealed, LINK)).toBe(TOKEN);
    expect(await (await instance()).open(sealed, LINK)).toBe(TOKEN);
  });
});
