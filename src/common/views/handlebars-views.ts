import type { NestExpressApplication } from '@nestjs/platform-express';
import type Hbs from 'hbs';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fillText } from './page-text';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * Pages are `views/<name>.hbs`, rendered by hbs inside `views/layouts/main.hbs` (which places `{{{body}}}`),
 * with every `views/partials/*.hbs` available as `{{> name}}`. `{{ }}` escapes; templates only use
 * `{{{ }}}` for the rendered body.
 */
export function useHandlebarsViews(app: NestExpressApplication, viewsDir: string): void {
  let engine: typeof Hbs | undefined;
  // hbs, Handlebars and its compiler load with the first page, not at start: an API-only process never renders one.
  app.engine('hbs', (path: string, options: object, callback: (error: Error | null, html?: string) => void) => {
    if (!engine) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- the lazy load above
      engine = require('hbs') as typeof Hbs;
      registerPartials(engine, join(viewsDir, 'partials'));
      registerHelpers(engine);
    }
    engine.__express(path, options, callback);
  });
  app.setBaseViewsDir(viewsDir);
  app.setViewEngine('hbs');
  app.set('view options', { layout: 'layouts/main' });
}

/** Read at once, unlike `hbs.registerPartials`, which registers them in the background. */
function registerPartials(hbs: typeof Hbs, partialsDir: string): void {
  for (const file of readdirSync(partialsDir).filter((entry) => entry.endsWith('.hbs'))) {
    hbs.registerPartial(basename(file, '.hbs'), readFileSync(join(partialsDir, file), 'utf8'));
  }
}

function registerHelpers(hbs: typeof Hbs): void {
  /** `{{iso ms}}`: a machine-readable time for `<time datetime>`. */
  hbs.registerHelper('iso', (ms: unknown) => (typeof ms === 'number' ? new Date(ms).toISOString() : ''));
  /** `{{relative ms @root.now}}`: "in 9 d", "5 min ago", "—" when unknown. */
  hbs.registerHelper('relative', (ms: unknown, now: unknown) =>
    typeof ms === 'number' && typeof now === 'number' ? relativeTime(ms, now) : '—',
  );
  /** `{{fill t.admin.clearAllConfirm count=counts.total}}`: a page text with its `{name}` placeholders filled. */
  hbs.registerHelper('fill', (template: unknown, options: { hash: Record<string, string | number> }) =>
    typeof template === 'string' ? fillText(template, options.hash) : '',
  );
}

export function relativeTime(at: number, now: number): string {
  const delta = at - now;
  const span = Math.abs(delta);
  if (span < MINUTE) return delta >= 0 ? 'in under a minute' : 'just now';
  const amount =
    span < HOUR ? `${Math.round(span / MINUTE)} min` : span < DAY ? `${Math.round(span / HOUR)} h` : `${Math.round(span / DAY)} d`;
  return delta >= 0 ? `in ${amount}` : `${amount} ago`;
}
