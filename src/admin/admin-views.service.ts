import { Injectable } from '@nestjs/common';
import type { Response } from 'express';
import { PageContext, renderPage } from '../common/views/page-render';

/**
 * Renders an admin page through the app's view engine (`useHandlebarsViews`), in the visitor's language and
 * theme; never cached. Its CSP and other security headers come from `securityHeaders()` (common/http).
 */
@Injectable()
export class AdminViews {
  send(response: Response, template: string, context: PageContext, status = 200): void {
    renderPage(response, template, { ...context, admin: true }, status);
  }
}
