import { Logger } from '@nestjs/common';
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { createApp } from './app.factory';
import { applyServerLimits } from './common/http/server-limits';
import { AppConfig } from './config/app-config';
import { ConfigError, loadConfig } from './config/load-config';

/** Validates the configuration before Nest boots, so a bad value stops the start with one clear line. */
function configurationProblem(): string | undefined {
  const fileEnv = existsSync('.env') ? parseEnv(readFileSync('.env', 'utf8')) : {};
  try {
    loadConfig({ ...fileEnv, ...process.env });
    return undefined;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.message;
  }
}

async function bootstrap(): Promise<void> {
  const problem = configurationProblem();
  if (problem) {
    console.error(`Configuration error: ${problem}`);
    process.exitCode = 1;
    return;
  }
  const app = await createApp();
  const config = app.get(AppConfig);
  applyServerLimits(app.getHttpServer(), config);
  await app.listen(config.port);
  const prefix = config.apiPrefix ? '/<API_PREFIX>' : '';
  new Logger('FlowGPT').log(`Listening on port ${config.port}: OpenAI-compatible API at ${prefix}/v1, upstream ${config.chatgptBaseUrl.join(', ')}`);
}

bootstrap().catch((error: unknown) => {
  console.error(error);
  // Half-started modules (Redis, workers) may hold the event loop open: stop for sure.
  process.exit(1);
});
