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
  // The web app's pages (WEB_APP_ROUTES).
  'c',
  'g',
  'gpts',
  'tasks',
  'ccc',
  'library',
  'images',
  'project',
  'share',
  'files',
  // The gateway's telemetry answers (telemetry.controller.ts): the web app calls /ces/v1/… and /ab/v1/… on every page.
  'ces',
  'ab',
  'cdn-cgi',
  'metrics',
  // The user panels' seed API (seed-token.controller.ts), registered before the admin entry `GET /{API_PREFIX}`.
  'seedtoken',
  'healthz',
  'readyz',
]);

/** What `API_PREFIX` may be: one path segment of unreserved URL characters. */
export const API_PREFIX_SHAPE = /^[A-Za-z0-9._~-]+$/;

export function isReservedRoute(segment: string): boolean {
  return RESERVED_ROUTES.has(segment.toLowerCase());
}

/**
 * The web app's own pages, which a browser may load or reload directly: with a session they get the chat UI
 * (gateway.md §6.4), the page fetched from the upstream at the same path. Their first segments are reserved above.
 */
export const WEB_APP_ROUTES: string[] = [
  'c/:conversationId',
  'c/:conversationId/*path',
  'g/:gizmoId',
  'g/:gizmoId/*path',
  'gpts',
  'gpts/*path',
  'tasks',
  'tasks/*path',
  'ccc/:id',
  'library',
  'library/*path',
  'images',
  'images/*path',
  'project/*path',
  'share/:shareId',
  'share/:shareId/*path',
];
