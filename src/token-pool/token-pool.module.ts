import { Inject, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { StartProblem } from '../common/startup/start-problem';
import { maskUrlPassword } from '../common/util/secrets';
import { AppConfig } from '../config/app-config';
import { Clock, SystemClock } from './clock';
import { RefreshTokenExchanger } from './refresh-token.exchanger';
import { ACCOUNT_STORE, type AccountStore } from './stores/account-store';
import { FileAccountStore } from './stores/file-account-store';
import { RedisAccountStore } from './stores/redis-account-store';
import { TokenPoolService } from './token-pool.service';

/** The adapter the configuration asks for: Redis when `REDIS_URL` is set, else files under `DATA_DIR`. */
export async function createAccountStore(config: AppConfig, clock: Clock): Promise<AccountStore> {
  const logger = new Logger('AccountStore');
  const store = config.redisUrl
    ? new RedisAccountStore({ url: config.redisUrl, prefix: config.redisPrefix })
    : new FileAccountStore({ dataDir: config.dataDir, now: () => clock.now() });
  try {
    await store.open();
  } catch (error) {
    if (!config.redisUrl) throw error;
    throw new StartProblem(`${(error as Error).message} (REDIS_URL=${maskUrlPassword(config.redisUrl)}): start Redis or fix REDIS_URL`);
  }
  logger.debug(config.redisUrl ? `Accounts in Redis under prefix ${config.redisPrefix}` : `Accounts in files under ${config.dataDir}`);
  return store;
}

@Module({
  providers: [
    { provide: Clock, useClass: SystemClock },
    { provide: ACCOUNT_STORE, inject: [AppConfig, Clock], useFactory: createAccountStore },
    RefreshTokenExchanger,
    TokenPoolService,
  ],
  exports: [TokenPoolService, RefreshTokenExchanger, Clock, ACCOUNT_STORE],
})
export class TokenPoolModule implements OnApplicationShutdown {
  constructor(@Inject(ACCOUNT_STORE) private readonly store: AccountStore) {}

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}
