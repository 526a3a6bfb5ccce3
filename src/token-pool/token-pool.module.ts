import { Inject, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { BackgroundWorkModule } from '../common/lifecycle/background-work.module';
import { SharedState } from '../common/shared-state/shared-state';
import { SharedStateModule } from '../common/shared-state/shared-state.module';
import { StartProblem } from '../common/startup/start-problem';
import { maskUrlCredentials } from '../common/util/secrets';
import { AppConfig } from '../config/app-config';
import { UpstreamModule } from '../upstream/upstream.module';
import { Clock, SystemClock } from '../common/vocabulary/clock';
import { AccountLeaser } from './account-leaser';
import { PoolAdmin } from './pool-admin';
import { PoolReadModel } from './pool-read-model';
import { PoolRefresher } from './pool-refresher';
import { RefreshTokenExchanger } from './refresh-token.exchanger';
import { SeedRegistry } from './seed-registry';
import { SessionTokenExchanger } from './session-token.exchanger';
import { ACCOUNT_STORE, type AccountStore } from './stores/account-store';
import { FileAccountStore } from './stores/file-account-store';
import { leftPoolFiles, leftPoolWarning } from './stores/left-pool-files';
import { RedisAccountStore } from './stores/redis-account-store';

/** The adapter the configuration asks for: Redis when `REDIS_URL` is set (on the process's one connection), else files under `DATA_DIR`. */
export async function createAccountStore(config: AppConfig, clock: Clock, shared: SharedState): Promise<AccountStore> {
  const logger = new Logger('AccountStore');
  const store = shared.connection
    ? new RedisAccountStore({ connection: shared.connection, prefix: config.redisPrefix })
    : new FileAccountStore({ dataDir: config.dataDir, now: () => clock.now() });
  try {
    await store.open();
  } catch (error) {
    if (!config.redisUrl || error instanceof StartProblem) throw error;
    throw new StartProblem(`${(error as Error).message} (REDIS_URL=${maskUrlCredentials(config.redisUrl)}): start Redis or fix REDIS_URL`);
  }
  logger.debug(
    shared.connection
      ? `Accounts in ${shared.connection.description} under prefix ${config.redisPrefix}`
      : `Accounts in files under ${config.dataDir}`,
  );
  // Said at every start, not only the first on Redis: the one that shows the files left behind may scroll away.
  const left = shared.connection ? await leftPoolFiles(config.dataDir) : null;
  if (left) logger.warn(leftPoolWarning(left));
  return store;
}

@Module({
  imports: [SharedStateModule, UpstreamModule, BackgroundWorkModule],
  providers: [
    { provide: Clock, useClass: SystemClock },
    { provide: ACCOUNT_STORE, inject: [AppConfig, Clock, SharedState], useFactory: createAccountStore },
    RefreshTokenExchanger,
    SessionTokenExchanger,
    PoolRefresher,
    AccountLeaser,
    SeedRegistry,
    PoolReadModel,
    PoolAdmin,
  ],
  // The store itself stays inside: other modules go through these services, each with one job.
  exports: [AccountLeaser, SeedRegistry, PoolRefresher, PoolReadModel, PoolAdmin, RefreshTokenExchanger, SessionTokenExchanger, Clock],
})
export class TokenPoolModule implements OnApplicationShutdown {
  constructor(@Inject(ACCOUNT_STORE) private readonly store: AccountStore) {}

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}
