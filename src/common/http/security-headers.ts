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

const OWN_PAGES = /^\/(?:admin|static)(?:\/|$)/;

/**
 * helmet on every response (nosniff, frame denial, same-origin referrer and opener, …), plus the strict CSP
 * above on our own pages. JSON needs no CSP, and the future browser gateway brings its own.
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
  const ownPages = helmet.contentSecurityPolicy({ useDefaults: false, directives: OWN_PAGES_CSP });
  return (request: Request, response: Response, next: NextFunction) => {
    everywhere(request, response, (error?: unknown) => {
      if (error) return next(error);
      if (OWN_PAGES.test(request.path)) return ownPages(request, response, next);
      next();
    });
  };
}
