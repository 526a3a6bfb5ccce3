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
import { importFilePool, importRecord } from './file-pool-import';
import { isServerSecret, SeedRegistry } from './seed-registry';
import { SeedTokens } from './seed-tokens';
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
    : new FileAccountStore({ dataDir: config.dataDir, now: () => clock.now(), refusedSeed: (seed) => isServerSecret(seed, config) });
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
  if (shared.connection) await accountForFilePool(store, config, clock, logger);
  else if (config.importFilePool)
    logger.warn('IMPORT_FILE_POOL is set without REDIS_URL: the pool is in the files already, nothing is imported');
  return store;
}

const UNSET_IMPORT = 'unset IMPORT_FILE_POOL';
/** Why it must not stay set: the import record lives in Redis, and goes with its data. */
const IMPORTED_AGAIN =
  'left set, a start after Redis loses its data (or under a new REDIS_PREFIX) would import the files again, RefreshTokens ' +
  'spent since included';

/**
 * On Redis: imports the file store's pool when `IMPORT_FILE_POOL` asks for it, and says what became of the pool the file
 * store left in `DATA_DIR` (at every start, not only the first on Redis: the line may scroll away). Counts, never a token.
 */
async function accountForFilePool(store: AccountStore, config: AppConfig, clock: Clock, logger: Logger): Promise<void> {
  const imported = config.importFilePool ? await importFilePool(store, config.dataDir, () => clock.now()) : null;
  switch (imported?.outcome) {
    case 'imported': {
      const { record } = imported;
      logger.log(
        `IMPORT_FILE_POOL: copied the file store's pool from ${record.dataDir} into Redis: ${record.accounts} accounts, ` +
          `${record.seeds} seeds, ${record.rotations} stored token rotations; the files are left as they were; ${UNSET_IMPORT} now: ` +
          IMPORTED_AGAIN,
      );
      for (const account of imported.accounts) logger.debug(`Imported account ${account.id} (${account.kind} ${account.maskedToken})`);
      return;
    }
    case 'imported_before':
      logger.warn(
        `IMPORT_FILE_POOL: the file store's pool was imported from ${imported.record.dataDir} at ` +
          `${new Date(imported.record.at).toISOString()}; nothing more is imported while Redis keeps that record; ${UNSET_IMPORT}: ` +
          IMPORTED_AGAIN,
      );
      return;
    case 'pool_not_empty':
      logger.warn(
        `IMPORT_FILE_POOL: Redis holds ${imported.accounts} accounts already, so the file store's pool is not imported ` +
          '(only into a pool without accounts); move what is missing by hand (see below) and unset IMPORT_FILE_POOL',
      );
      break;
    case 'nothing_to_import':
      logger.warn(`IMPORT_FILE_POOL: ${imported.dataDir} holds no file-store pool, so there is nothing to import`);
      return;
    case 'busy':
      logger.warn("IMPORT_FILE_POOL: another instance has been importing the file store's pool for minutes; starting on what Redis holds");
      return;
    case undefined:
      break;
  }
  const left = await leftPoolFiles(config.dataDir);
  if (!left) return;
  const record = await importRecord(store);
  if (record)
    logger.log(
      `The file store's pool under ${config.dataDir} was imported into Redis at ${new Date(record.at).toISOString()}; its files are not used`,
    );
  else logger.warn(leftPoolWarning(left));
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
    SeedTokens,
    PoolReadModel,
    PoolAdmin,
  ],
  // The store itself stays inside: other modules go through these services, each with one job.
  exports: [
    AccountLeaser,
    SeedRegistry,
    SeedTokens,
    PoolRefresher,
    PoolReadModel,
    PoolAdmin,
    RefreshTokenExchanger,
    SessionTokenExchanger,
    Clock,
  ],
})
export class TokenPoolModule implements OnApplicationShutdown {
  constructor(@Inject(ACCOUNT_STORE) private readonly store: AccountStore) {}

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}
