import { LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { configureApp } from './common/http/express-app';
import { AppConfig, LOG_LEVELS, LogLevelName } from './config/app-config';
import { loadConfig } from './config/load-config';
import { AppLogger } from './logging/app-logger';
import { createRootLogger } from './logging/root-logger';

/**
 * Builds the configured application without listening: `main.ts` listens on `PORT`, tests on port 0.
 * `source` is the loaded configuration, or variables that replace `process.env` and `.env`.
 */
export async function createApp(source?: AppConfig | Record<string, string | undefined>): Promise<NestExpressApplication> {
  const config = source instanceof AppConfig ? source : loadConfig(source);
  // Lines logged while the modules are built (and flushed as they are when that fails) already follow LOG_FORMAT.
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bodyParser: false,
    abortOnError: false,
    logger: new AppLogger(createRootLogger(config)),
    bufferLogs: true,
  });
  app.useLogger(app.get(AppLogger));
  return configureApp(app);
}

/** Nest's levels at and above `LOG_LEVEL`, so that boot messages obey it too. */
export function logLevelsFrom(level: LogLevelName): LogLevel[] {
  return ['fatal', ...LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(level) + 1)] as LogLevel[];
}
