import { Injectable } from '@nestjs/common';
import type { Response } from 'express';

/** Admin pages are never cached; their CSP and other security headers come from `securityHeaders()` (common/http). */
const PAGE_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
};

/** Renders an admin page through the app's view engine (`useHandlebarsViews`). */
@Injectable()
export class AdminViews {
  send(response: Response, template: string, context: Record<string, unknown>, status = 200): void {
    response.status(status).set(PAGE_HEADERS).render(template, context);
  }
}
