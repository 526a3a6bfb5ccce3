import { Test } from '@nestjs/testing';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppConfigModule } from '../config/app-config.module';
import { loadConfig } from '../config/load-config';
import { SchedulerModule } from './scheduler.module';
import { TokenRefreshScheduler } from './token-refresh.scheduler';

describe('SchedulerModule', () => {
  let dataDir: string;
  beforeEach(async () => (dataDir = await mkdtemp(join(tmpdir(), 'flowgpt-scheduler-module-'))));
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it('boots on the pool module alone and provides the refresh scheduler', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [AppConfigModule.forRoot(loadConfig({ DATA_DIR: dataDir })), SchedulerModule],
    }).compile();
    const app = await moduleRef.createNestApplication({ logger: false }).init();
    try {
      expect(app.get(TokenRefreshScheduler)).toBeDefined();
    } finally {
      await app.close();
    }
  });
});
