import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppConfigModule } from '../config/app-config.module';
import { loadConfig } from '../config/load-config';
import { ACCOUNT_STORE } from './stores/account-store';
import { FileAccountStore } from './stores/file-account-store';
import { RedisAccountStore } from './stores/redis-account-store';
import { fakeAccessToken } from './testing/fixtures';
import { redisHarness, TEST_REDIS_URL } from './testing/redis-harness';
import { TokenPoolModule } from './token-pool.module';
import { poolServicesOf } from './testing/pool-services';

describe('TokenPoolModule', () => {
  let dataDir: string;
  beforeEach(async () => (dataDir = await mkdtemp(join(tmpdir(), 'flowgpt-module-'))));
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  const boot = async (env: Record<string, string>) => {
    const moduleRef = await Test.createTestingModule({
      imports: [AppConfigModule.forRoot(loadConfig({ DATA_DIR: dataDir, ...env })), TokenPoolModule],
    }).compile();
    return moduleRef.createNestApplication({ logger: false }).init();
  };

  it('uses the file store by default and closes it on shutdown', async () => {
    const app = await boot({});
    expect(app.get(ACCOUNT_STORE)).toBeInstanceOf(FileAccountStore);
    const pool = poolServicesOf(app);
    await pool.admin.upload([fakeAccessToken({ exp: Date.now() + 3_600_000 })]);
    expect(await pool.leaser.lease()).not.toBeNull();
    await app.close();
    expect(await readdir(dataDir)).toContain('accounts.json');
  });

  it('uses Redis when REDIS_URL is set', async () => {
    const harness = await redisHarness();
    const app = await boot({ REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: harness.prefix });
    try {
      expect(app.get(ACCOUNT_STORE)).toBeInstanceOf(RedisAccountStore);
      await poolServicesOf(app).admin.upload([fakeAccessToken({ exp: Date.now() + 3_600_000 })]);
      expect(await poolServicesOf(app).readModel.counts()).toMatchObject({ total: 1, active: 1 });
    } finally {
      await app.close();
      await harness.cleanup();
    }
  });

  it('with REDIS_URL, warns once about the pool the file store left in DATA_DIR: its files, counts and what to do, never a token', async () => {
    const tokens = [fakeAccessToken({ exp: Date.now() + 3_600_000 }), fakeAccessToken({ exp: Date.now() + 7_200_000 })];
    const files = await boot({});
    await poolServicesOf(files).admin.upload(tokens);
    const seed = await poolServicesOf(files).seeds.createSeed();
    await files.close();

    const harness = await redisHarness();
    const warnings: string[] = [];
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((line: unknown) => void warnings.push(String(line)));
    const app = await boot({ REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: harness.prefix });
    try {
      const left = warnings.filter((line) => line.includes('accounts.json'));
      expect(left).toHaveLength(1);
      expect(left[0]).toContain(`${join(dataDir, 'accounts.json')} (2 accounts)`);
      expect(left[0]).toContain(`${join(dataDir, 'seeds.json')} (1 seed)`);
      expect(left[0]).toContain('IMPORT_FILE_POOL=true');
      expect(left[0]).toContain('upload');
      expect(left[0]).toContain('unset REDIS_URL');
      for (const secret of [...tokens, seed]) expect(left[0]).not.toContain(secret);
      // Nothing is moved behind the operator's back.
      expect(await poolServicesOf(app).readModel.counts()).toMatchObject({ total: 0 });
    } finally {
      jest.restoreAllMocks();
      await app.close();
      await harness.cleanup();
    }
  });

  it("with REDIS_URL and IMPORT_FILE_POOL=true, moves the file store's pool into Redis once and says so with counts, never a token", async () => {
    const tokens = [fakeAccessToken({ exp: Date.now() + 3_600_000 }), fakeAccessToken({ exp: Date.now() + 7_200_000 })];
    const files = await boot({});
    await poolServicesOf(files).admin.upload(tokens);
    const seed = await poolServicesOf(files).seeds.createSeed();
    await files.close();

    const harness = await redisHarness();
    const lines: string[] = [];
    const warnings: string[] = [];
    const collect = (line: unknown) => void lines.push(String(line));
    jest.spyOn(Logger.prototype, 'log').mockImplementation(collect);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((line: unknown) => void [collect(line), warnings.push(String(line))]);
    jest.spyOn(Logger.prototype, 'debug').mockImplementation(collect);
    const env = { REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: harness.prefix, IMPORT_FILE_POOL: 'true', LOG_LEVEL: 'debug' };
    let app = await boot(env);
    try {
      expect(await poolServicesOf(app).readModel.counts()).toMatchObject({ total: 2, active: 2 });
      expect(await poolServicesOf(app).seeds.adminCreated(seed)).toBe(true);
      expect(lines.filter((line) => line.includes('copied the file store'))).toEqual([
        expect.stringContaining(`from ${dataDir} into Redis: 2 accounts, 1 seeds, 0 stored token rotations`),
      ]);
      // Left set, a start after Redis lost its data (and the import record) would bring the spent tokens of the files back.
      expect(lines.filter((line) => line.includes('copied the file store'))).toEqual([
        expect.stringMatching(/unset IMPORT_FILE_POOL now: .*Redis loses its data/),
      ]);
      expect(lines.filter((line) => line.startsWith('Imported account'))).toHaveLength(2);
      // Neither the warning about the files left behind: they were moved.
      expect(lines.filter((line) => line.includes('To move them'))).toEqual([]);

      await poolServicesOf(app).admin.clear();
      await app.close();
      app = await boot(env);
      expect(await poolServicesOf(app).readModel.counts()).toMatchObject({ total: 0 });
      expect(warnings.filter((line) => line.includes('was imported from'))).toEqual([
        expect.stringMatching(/unset IMPORT_FILE_POOL: .*Redis loses its data/),
      ]);
      for (const secret of [...tokens, seed]) expect(lines.filter((line) => line.includes(secret))).toEqual([]);
    } finally {
      jest.restoreAllMocks();
      await app.close();
      await harness.cleanup();
    }
  });

  it('with REDIS_URL and a DATA_DIR without a pool, says nothing about the file store', async () => {
    const harness = await redisHarness();
    const warnings: string[] = [];
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((line: unknown) => void warnings.push(String(line)));
    const app = await boot({ REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: harness.prefix });
    try {
      expect(warnings.filter((line) => line.includes('DATA_DIR'))).toEqual([]);
    } finally {
      jest.restoreAllMocks();
      await app.close();
      await harness.cleanup();
    }
  });
});
