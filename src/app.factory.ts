import { LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { BootLogger } from './common/logging/boot-logger';
import { configureApp } from './common/http/express-app';
import { AppConfig, LOG_LEVELS, LogLevelName } from './config/app-config';
import { loadConfig } from './config/load-config';
import { AppLogger } from './logging/app-logger';

/**
 * Builds the configured application without listening: `main.ts` listens on `PORT`, tests on port 0.
 * `source` is the loaded configuration, or variables that replace `process.env` and `.env`.
 */
export async function createApp(source?: AppConfig | Record<string, string | undefined>): Promise<NestExpressApplication> {
  const config = source instanceof AppConfig ? source : loadConfig(source);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bodyParser: false,
    abortOnError: false,
    logger: new BootLogger(logLevelsFrom(config.logLevel)),
    bufferLogs: true,
  });
  app.useLogger(app.get(AppLogger));
  return configureApp(app);
}

/** Nest's levels at and above `LOG_LEVEL`, so that boot messages obey it too. */
export function logLevelsFrom(level: LogLevelName): LogLevel[] {
  return ['fatal', ...LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(level) + 1)] as LogLevel[];
}
