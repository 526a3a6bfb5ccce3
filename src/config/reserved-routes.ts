/**
 * The first path segments of our own routes (API, admin, sign-in, gateway proxy, health, metrics, files).
 * `API_PREFIX` may not be one of them (it would hide the route), and the admin entry `GET /{secret}` never
 * counts one as a guess of the secret. The one list both read, so they cannot disagree.
 */
export const RESERVED_ROUTES: ReadonlySet<string> = new Set([
  'v1',
  'admin',
  'auth',
  'api',
  'backend-api',
  'backend-anon',
  'static',
  'assets',
  '_next',
  'c',
  'g',
  'files',
  'metrics',
  'healthz',
  'readyz',
]);

export function isReservedRoute(segment: string): boolean {
  return RESERVED_ROUTES.has(segment.toLowerCase());
}
