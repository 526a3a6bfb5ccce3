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
});
