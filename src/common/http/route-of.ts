import type { IncomingMessage } from 'node:http';
import type { Request } from 'express';

/**
 * The path our request-wide middleware (logs, metrics) is mounted on. Express reports it as the request's route
 * when no controller route matched afterwards.
 */
export const EVERY_PATH = '{*path}';

/**
 * The matched route pattern (`/admin/api/accounts/:id`), never the raw path: raw paths carry ids and secrets.
 * Null when no route matched.
 */
export function routeOf(request: IncomingMessage): string | null {
  const route = (request as Request).route as { path?: unknown } | undefined;
  if (typeof route?.path !== 'string' || route.path.endsWith(EVERY_PATH)) return null;
  return route.path;
}
