import { LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { BootLogger } from './common/logging/boot-logger';
import { configureApp } from './common/http/express-app';
import { LOG_LEVELS, LogLevelName } from './config/app-config';
import { AppLogger } from './logging/app-logger';

/**
 * Builds the configured application without listening: `main.ts` listens on `PORT`, tests on port 0.
 * `env` replaces `process.env` and `.env` when given.
 */
export async function createApp(env?: Record<string, string | undefined>): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(env), {
    bodyParser: false,
    abortOnError: false,
    logger: new BootLogger(logLevelsFrom(env)),
    bufferLogs: true,
  });
  app.useLogger(app.get(AppLogger));
  return configureApp(app);
}

/** The levels at and above LOG_LEVEL; read before the full configuration so boot messages obey it. */
export function logLevelsFrom(env?: Record<string, string | undefined>): LogLevel[] {
  const wanted = (env ?? process.env).LOG_LEVEL?.trim() as LogLevelName | undefined;
  const index = wanted && LOG_LEVELS.includes(wanted) ? LOG_LEVELS.indexOf(wanted) : LOG_LEVELS.indexOf('log');
  return ['fatal', ...LOG_LEVELS.slice(0, index + 1)] as LogLevel[];
}
