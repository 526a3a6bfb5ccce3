import { LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import cookieParser from 'cookie-parser';
import { join } from 'node:path';
import { AppModule } from './app.module';
import { BootLogger } from './common/logging/boot-logger';
import { apiCors, apiJsonBodies, apiPrefixRouting } from './common/http/api-routing';
import { cookieSecretOf } from './common/http/cookie-secret';
import { PrefixGuessThrottle } from './common/http/prefix-guess.throttle';
import { closeAfterLargeBodies } from './common/http/request-body';
import { requestTargetNormalization } from './common/http/request-target';
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
    logger: new BootLogger(logLevelsFrom(env)),
    bufferLogs: true,
  });
  app.useLogger(app.get(AppLogger));
  return configureApp(app);
}

/**
 * The Express side of the app: the request target's normal form, CORS and API_PREFIX routing, cookies, views,
 * static files. Bodies are not read here but per route, after its guards (`common/http/request-body.ts`).
 */
export function configureApp(app: NestExpressApplication): NestExpressApplication {
  const config = app.get(AppConfig);
  // Our path checks are case-sensitive, so routing must be too, or `/V1/models` would be routed past them.
  // Express reads the setting once, when it makes its router, and Nest's adapter has made it already (for its
  // request hook): the router's own flag is what every route and middleware registered from here on is built with.
  app.set('case sensitive routing', true);
  (app.getHttpAdapter().getInstance() as { router: { caseSensitive?: boolean } }).router.caseSensitive = true;
  app.disable('x-powered-by');
  // Forwarded headers (client address, host, scheme) are believed only from the proxies named in TRUSTED_PROXIES.
  app.set('trust proxy', config.trustedProxies.length > 0 ? config.trustedProxies : false);
  app.use(requestTargetNormalization);
  app.use(securityHeaders());
  app.use(closeAfterLargeBodies(config.maxSmallBodyBytes));
  app.use(apiPrefixRouting(config.apiPrefix, app.get(PrefixGuessThrottle)));
  app.use(apiCors);
  app.use(apiJsonBodies);
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
