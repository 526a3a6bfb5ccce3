import { LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import cookieParser from 'cookie-parser';
import express from 'express';
import { join } from 'node:path';
import { AppModule } from './app.module';
import { cookieSecretOf } from './common/http/cookie-secret';
import { apiCors, apiJsonBodies, apiPrefixRouting, bodyParserErrors } from './common/http/api-routing';
import { PrefixGuessThrottle } from './common/http/prefix-guess.throttle';
import { securityHeaders } from './common/http/security-headers';
import { useHandlebarsViews } from './common/views/handlebars-views';
import { AppConfig, LOG_LEVELS, LogLevelName } from './config/app-config';
import { AppLogger } from './logging/app-logger';

/** The repository root, from `src/` under ts-node and Jest or `dist/` once built. */
export const PROJECT_ROOT = join(__dirname, '..');

/**
 * Builds the configured application without listening: `main.ts` listens on `PORT`, tests on port 0.
 * `env` replaces `process.env` and `.env` when given.
 */
export async function createApp(env?: Record<string, string | undefined>): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(env), {
    bodyParser: false,
    abortOnError: false,
    logger: logLevelsFrom(env),
    bufferLogs: true,
  });
  app.useLogger(app.get(AppLogger));
  return configureApp(app);
}

/** The Express side of the app: body limits, CORS and API_PREFIX routing, cookies, views, static files. */
export function configureApp(app: NestExpressApplication): NestExpressApplication {
  const config = app.get(AppConfig);
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  app.use(securityHeaders());
  app.use(apiPrefixRouting(config.apiPrefix, app.get(PrefixGuessThrottle)));
  app.use(apiCors);
  app.use(apiJsonBodies);
  app.use(express.json({ limit: config.maxBodyBytes, type: ['application/json', 'application/*+json'] }));
  app.use(express.urlencoded({ extended: false, limit: config.maxBodyBytes }));
  app.use(bodyParserErrors);
  app.use(cookieParser(cookieSecretOf(app)));
  app.useStaticAssets(join(PROJECT_ROOT, 'static'), { prefix: '/static/', maxAge: '1h', index: false });
  useHandlebarsViews(app, join(PROJECT_ROOT, 'views'));
  // SIGTERM/SIGINT are handled by `exitGracefullyOnSignals` (main.ts), which drains open streams before `app.close()`.
  return app;
}

/** The levels at and above LOG_LEVEL; read before the full configuration so boot messages obey it. */
export function logLevelsFrom(env?: Record<string, string | undefined>): LogLevel[] {
  const wanted = (env ?? process.env).LOG_LEVEL?.trim() as LogLevelName | undefined;
  const index = wanted && LOG_LEVELS.includes(wanted) ? LOG_LEVELS.indexOf(wanted) : LOG_LEVELS.indexOf('log');
  return ['fatal', ...LOG_LEVELS.slice(0, index + 1)] as LogLevel[];
}
