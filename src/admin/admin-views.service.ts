import { Injectable } from '@nestjs/common';
import type { Response } from 'express';
import { PageContext, renderPage } from '../common/views/page-render';

/**
 * Renders an admin page through the app's view engine (`useHandlebarsViews`), in the visitor's language and
 * theme; never cached. Its CSP and other security headers come from `securityHeaders()` (common/http).
 */
@Injectable()
export class AdminViews {
  /** A refused or answered admin form is on the sign-in page or else on the dashboard. */
  send(response: Response, template: string, context: PageContext, status = 200): void {
    const formPage = response.req.path === '/admin/login' ? '/admin/login' : '/admin';
    renderPage(response, template, { formPage, ...context, admin: true }, status);
  }
}
