import { Logger } from '@nestjs/common';
import { createApp } from './app.factory';
import { AppConfig } from './config/app-config';
import { ConfigError } from './config/load-config';

async function bootstrap(): Promise<void> {
  const app = await createApp();
  const config = app.get(AppConfig);
  await app.listen(config.port);
  const prefix = config.apiPrefix ? '/<API_PREFIX>' : '';
  new Logger('FlowGPT').log(`Listening on port ${config.port}: OpenAI-compatible API at ${prefix}/v1, upstream ${config.chatgptBaseUrl.join(', ')}`);
}

bootstrap().catch((error: unknown) => {
  const cause = findConfigError(error);
  console.error(cause ? `Configuration error: ${cause.message}` : error);
  process.exit(1);
});

function findConfigError(error: unknown): ConfigError | undefined {
  for (let current = error; current instanceof Error; current = current.cause) {
    if (current instanceof ConfigError) return current;
  }
  return undefined;
}
