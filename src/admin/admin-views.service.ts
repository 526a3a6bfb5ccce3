import { Injectable } from '@nestjs/common';
import type { Response } from 'express';
import { join } from 'node:path';
import { createTemplateRenderer } from './handlebars-engine';

/** `views/` at the repository root, from `src/admin` (ts-node, Jest) or `dist/admin` (built). */
const VIEWS_DIR = join(__dirname, '..', '..', 'views');

/** Admin pages hold no third-party content: everything from our origin, no framing, never cached. */
const PAGE_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
};

@Injectable()
export class AdminViews {
  private readonly render = createTemplateRenderer(VIEWS_DIR);

  send(response: Response, template: string, context: Record<string, unknown>, status = 200): void {
    response.status(status).set(PAGE_HEADERS).type('html').send(this.render(template, context));
  }
}
