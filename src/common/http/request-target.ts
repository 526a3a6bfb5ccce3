import type { NextFunction, Request, Response } from 'express';
import type { IncomingMessage, Server } from 'node:http';
import { ApiError } from '../errors/api-error';

/** Set on a request whose target has no normal form; holds the target as sent, for the refusal and the log. */
const MALFORMED_TARGET = Symbol('malformed request target');
type ArrivingRequest = IncomingMessage & { [MALFORMED_TARGET]?: string };

const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;
const ENCODED_SEPARATOR = /%(?:2f|5c)/i;
const PERCENT_ENCODED = /%([0-9A-Fa-f]{2})/g;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/**
 * The one spelling of a request target that every later step sees, or `undefined` when it has none.
 *
 * Our middleware decides on the path (API_PREFIX, CORS, 415) while Express routes on `parseurl`'s view of
 * it; any spelling the two read differently lets a request skip the checks. So, once, before both:
 * - an absolute-form target (`http://host/v1/...`) becomes its origin-form path;
 * - percent-encoded unreserved characters are decoded (`/%761` is `/v1`), as RFC 3986 §6.2.2.2 allows;
 * - runs of slashes collapse to one;
 * - targets with a dot segment (`/a/../v1`, also encoded), an encoded slash or backslash, or a backslash are
 *   refused: a proxy in front of us may resolve them differently from us.
 * The query string is left as it is. Letter case is kept: routing is case-sensitive (see `configureApp`).
 */
export function normalizeRequestTarget(target: string): string | undefined {
  let url = target;
  if (url === '*') return url;
  const absolute = ABSOLUTE_FORM.exec(url);
  if (absolute) url = url.slice(absolute[0].length);
  if (absolute && !url.startsWith('/')) url = `/${url}`;
  if (!url.startsWith('/')) return undefined;

  const queryAt = url.indexOf('?');
  const rawPath = queryAt === -1 ? url : url.slice(0, queryAt);
  const query = queryAt === -1 ? '' : url.slice(queryAt);
  if (rawPath.includes('#') || rawPath.includes('\\') || ENCODED_SEPARATOR.test(rawPath)) return undefined;

  const path = rawPath
    .replace(PERCENT_ENCODED, (escape, hex: string) => {
      const character = String.fromCharCode(parseInt(hex, 16));
      return UNRESERVED.test(character) ? character : escape;
    })
    .replace(/\/{2,}/g, '/');
  if (path.split('/').some((segment) => segment === '.' || segment === '..')) return undefined;
  return path + query;
}

/**
 * Rewrites every request target to its normal form as it arrives, before Express sees it. It cannot wait for a
 * middleware: Express's router reads an absolute-form target's scheme and host when the request enters and puts
 * them back when it strips a mount path (`/static/`), so a target rewritten later was spliced into garbage there.
 * A target with no normal form is marked, and routed as `/` until `refuseMalformedTargets` answers it.
 */
export function normalizeTargetsOnArrival(server: Server): void {
  server.prependListener('request', (request: ArrivingRequest) => {
    const target = request.url ?? '';
    const normal = normalizeRequestTarget(target);
    if (normal === undefined) {
      request[MALFORMED_TARGET] = target;
      request.url = '/';
    } else {
      request.url = normal;
    }
  });
}

/** The first middleware: refuses with 400 a target that `normalizeTargetsOnArrival` found no normal form for. */
export function refuseMalformedTargets(request: Request, response: Response, next: NextFunction): void {
  const target = (request as Request & ArrivingRequest)[MALFORMED_TARGET];
  if (target === undefined) {
    next();
    return;
  }
  request.url = target;
  request.originalUrl = target;
  const error = ApiError.invalidRequest('The request path is malformed.', 'invalid_request_target');
  response.status(400).json(error.body);
}
