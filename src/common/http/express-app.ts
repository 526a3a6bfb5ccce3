import type { NestExpressApplication } from '@nestjs/platform-express';
import cookieParser from 'cookie-parser';
import { join } from 'node:path';
import { AppConfig } from '../../config/app-config';
import { useHandlebarsViews } from '../views/handlebars-views';
import { apiCors, apiJsonBodies, apiPrefixRouting } from './api-routing';
import { PrefixGuessThrottle } from './prefix-guess.throttle';
import { closeAfterLargeBodies } from './request-body';
import { normalizeTargetsOnArrival, refuseMalformedTargets } from './request-target';
import { keepResponseErrorsLocal } from './response-errors';
import { securityHeaders } from './security-headers';

/** The repository root, from `src/common/http/` under ts-node and Jest or `dist/common/http/` once built. */
export const PROJECT_ROOT = join(__dirname, '..', '..', '..');

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
  app.use(keepResponseErrorsLocal);
  normalizeTargetsOnArrival(app.getHttpServer());
  app.use(refuseMalformedTargets);
  app.use(securityHeaders());
  app.use(closeAfterLargeBodies(config.maxSmallBodyBytes));
  app.use(apiPrefixRouting(config.apiPrefix, app.get(PrefixGuessThrottle)));
  app.use(apiCors);
  app.use(apiJsonBodies);
  app.use(cookieParser());
  app.useStaticAssets(join(PROJECT_ROOT, 'static'), { prefix: '/static/', maxAge: '1h', index: false });
  useHandlebarsViews(app, join(PROJECT_ROOT, 'views'));
  // SIGTERM/SIGINT are handled by `exitGracefullyOnSignals` (main.ts), which drains open streams before `app.close()`.
  return app;
}
