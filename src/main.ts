import { Logger } from '@nestjs/common';
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { createApp } from './app.factory';
import { AppConfig } from './config/app-config';
import { ConfigError, loadConfig } from './config/load-config';

/** Validates the configuration before Nest boots, so a bad value stops the start with one clear line. */
function checkConfiguration(): void {
  const fileEnv = existsSync('.env') ? parseEnv(readFileSync('.env', 'utf8')) : {};
  try {
    loadConfig({ ...fileEnv, ...process.env });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`Configuration error: ${error.message}`);
    process.exit(1);
  }
}

async function bootstrap(): Promise<void> {
  checkConfiguration();
  const app = await createApp();
  const config = app.get(AppConfig);
  await app.listen(config.port);
  const prefix = config.apiPrefix ? '/<API_PREFIX>' : '';
  new Logger('FlowGPT').log(`Listening on port ${config.port}: OpenAI-compatible API at ${prefix}/v1, upstream ${config.chatgptBaseUrl.join(', ')}`);
}

bootstrap().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
