import type { NestExpressApplication } from '@nestjs/platform-express';
import cookieParser from 'cookie-parser';
import express from 'express';
import { join } from 'node:path';
import { AppConfig } from '../../config/app-config';
import { apiCors, apiJsonBodies, apiPrefixRouting, bodyParserErrors } from './api-routing';
import { PrefixGuessThrottle } from './prefix-guess.throttle';
import { securityHeaders } from './security-headers';

/** The repository root, from `src/common/http/` under ts-node and Jest or `dist/common/http/` once built. */
export const PROJECT_ROOT = join(__dirname, '..', '..', '..');

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
  app.use(cookieParser());
  app.useStaticAssets(join(PROJECT_ROOT, 'static'), { prefix: '/static/', maxAge: '1h', index: false });
  app.setBaseViewsDir(join(PROJECT_ROOT, 'views'));
  // SIGTERM/SIGINT are handled by `exitGracefullyOnSignals` (main.ts), which drains open streams before `app.close()`.
  return app;
}
