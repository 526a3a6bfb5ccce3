import { Logger } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import { AdminSecret } from './admin/admin-secret.service';
import { createApp } from './app.factory';
import { exitGracefullyOnSignals } from './common/lifecycle/graceful-shutdown.service';
import { startProblemLine } from './common/startup/start-problem';
import { startupSummary } from './common/startup/startup-summary';
import { applyServerLimits } from './common/http/server-limits';
import { AppConfig } from './config/app-config';
import { ConfigError, loadConfig, variableNameWarnings } from './config/load-config';
import { ACCOUNT_STORE, type AccountStore } from './token-pool/stores/account-store';

/** Reads and validates `.env` and the environment once, before Nest boots: a bad value stops the start with one clear line. */
function configuration(): AppConfig | undefined {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`Configuration error: ${error.message}`);
    process.exitCode = 1;
    return undefined;
  }
}

async function bootstrap(): Promise<void> {
  const config = configuration();
  if (!config) return;
  const app = await createApp(config);
  exitGracefullyOnSignals(app);
  applyServerLimits(app.getHttpServer(), config);
  await app.listen(config.port);
  const summary = startupSummary({
    port: (app.getHttpServer().address() as AddressInfo).port,
    apiPrefixed: Boolean(config.apiPrefix),
    adminEnabled: app.get(AdminSecret).enabled,
    accounts: (await app.get<AccountStore>(ACCOUNT_STORE).listAccounts()).length,
    redisUrl: config.redisUrl,
    redisPrefix: config.redisPrefix,
    dataDir: config.dataDir,
    poolKeys: config.authorization.length,
    upstreams: config.chatgptBaseUrl,
    gatewayEnabled: config.enableGateway,
    publicUrl: config.publicUrl,
  });
  const logger = new Logger('FlowGPT');
  for (const line of summary.lines) logger.log(line);
  for (const warning of [...summary.warnings, ...variableNameWarnings()]) logger.warn(warning);
}

bootstrap().catch((error: unknown) => {
  const line = startProblemLine(error);
  if (line) console.error(`Cannot start: ${line}`);
  else console.error(error);
  // Half-started modules (Redis, workers) may hold the event loop open: stop for sure.
  process.exit(1);
});
