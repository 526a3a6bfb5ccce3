import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';

/** Our own HTML (the admin pages) and the files they load: everything from our origin, no inline code, no framing. */
export const OWN_PAGES_CSP = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
};

const OWN_PAGES = /^\/(?:admin|auth|static)(?:\/|$)/;
const ownPagesCsp = fixedHeaders(helmet.contentSecurityPolicy({ useDefaults: false, directives: OWN_PAGES_CSP }));

/**
 * The strict CSP on one of our pages served from a path the gateway shares (`/`, `/api/auth/signin`):
 * `renderPage` applies it to every page it renders, wherever it is routed.
 */
export function applyOwnPagesCsp(_request: Request, response: Response): void {
  ownPagesCsp.applyTo(response);
}

/**
 * helmet on every response (nosniff, frame denial, same-origin referrer and opener, …), plus the strict CSP
 * above on our own pages (and on every page `renderPage` renders). JSON needs no CSP, and the gateway's shell brings its own.
 * - Referrer-Policy is `same-origin`, not helmet's `no-referrer`: with `no-referrer` a browser sends
 *   `Origin: null` on form posts, and the admin's cross-site check would refuse its own forms.
 * - No HSTS: TLS is terminated in front of us, and whoever runs the TLS endpoint decides that policy for the domain.
 */
export function securityHeaders(): RequestHandler {
  const everywhere = fixedHeaders(
    helmet({
      contentSecurityPolicy: false,
      strictTransportSecurity: false,
      referrerPolicy: { policy: 'same-origin' },
      frameguard: { action: 'deny' },
    }),
  );
  return (request: Request, response: Response, next: NextFunction) => {
    everywhere.applyTo(response);
    if (OWN_PAGES.test(request.path)) ownPagesCsp.applyTo(response);
    next();
  };
}

/** The headers a helmet middleware sets and removes: fixed for fixed options (no nonces), so worked out once. */
interface FixedHeaders {
  applyTo(response: Response): void;
}

/**
 * Runs `middleware` once on a recording response and replays what it did: helmet's chain of a dozen middlewares
 * costs more per request than the headers it sets.
 */
export function fixedHeaders(middleware: RequestHandler): FixedHeaders {
  const set = new Map<string, string | number | readonly string[]>();
  const removed = new Set<string>();
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      removed.delete(name.toLowerCase());
      set.set(name, value);
    },
    removeHeader(name: string) {
      set.delete(name);
      removed.add(name.toLowerCase());
    },
  };
  let failure: unknown;
  middleware({} as Request, recorder as unknown as Response, (error?: unknown) => (failure = error));
  if (failure) throw failure instanceof Error ? failure : new Error(`helmet refused its options: ${JSON.stringify(failure)}`);
  const toSet = [...set];
  const toRemove = [...removed];
  return {
    applyTo(response: Response): void {
      for (const name of toRemove) response.removeHeader(name);
      for (const [name, value] of toSet) response.setHeader(name, value);
    },
  };
}
