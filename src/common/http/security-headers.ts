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
const ownPagesCsp = helmet.contentSecurityPolicy({ useDefaults: false, directives: OWN_PAGES_CSP });

/**
 * The strict CSP on one of our pages served from a path the gateway shares (`/`, `/api/auth/signin`):
 * `renderPage` applies it to every page it renders, wherever it is routed.
 */
export function applyOwnPagesCsp(request: Request, response: Response): void {
  ownPagesCsp(request, response, () => undefined);
}

/**
 * helmet on every response (nosniff, frame denial, same-origin referrer and opener, …), plus the strict CSP
 * above on our own pages (and on every page `renderPage` renders). JSON needs no CSP, and the gateway's shell brings its own.
 * - Referrer-Policy is `same-origin`, not helmet's `no-referrer`: with `no-referrer` a browser sends
 *   `Origin: null` on form posts, and the admin's cross-site check would refuse its own forms.
 * - No HSTS: TLS is terminated in front of us, and whoever runs the TLS endpoint decides that policy for the domain.
 */
export function securityHeaders(): RequestHandler {
  const everywhere = helmet({
    contentSecurityPolicy: false,
    strictTransportSecurity: false,
    referrerPolicy: { policy: 'same-origin' },
    frameguard: { action: 'deny' },
  });
  return (request: Request, response: Response, next: NextFunction) => {
    everywhere(request, response, (error?: unknown) => {
      if (error) return next(error);
      if (OWN_PAGES.test(request.path)) return ownPagesCsp(request, response, next);
      next();
    });
  };
}
