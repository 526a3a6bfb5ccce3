import { Injectable } from '@nestjs/common';
import type { Response } from 'express';
import { join } from 'node:path';
import { createTemplateRenderer } from './handlebars-engine';

/** `views/` at the repository root, from `src/admin` (ts-node, Jest) or `dist/admin` (built). */
const VIEWS_DIR = join(__dirname, '..', '..', 'views');

/** Admin pages are never cached; their CSP and other security headers come from `securityHeaders()` (common/http). */
const PAGE_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
};

@Injectable()
export class AdminViews {
  private readonly render = createTemplateRenderer(VIEWS_DIR);

  send(response: Response, template: string, context: Record<string, unknown>, status = 200): void {
    response.status(status).set(PAGE_HEADERS).type('html').send(this.render(template, context));
  }
}
