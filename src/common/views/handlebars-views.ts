import type { NestExpressApplication } from '@nestjs/platform-express';
import type Hbs from 'hbs';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fillText, localize, type LocalText, PAGE_TEXT, type PageText } from './page-text';

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
  /** `{{relative ms @root.now}}`: "in 9 d", "5 min ago", "—" when unknown; in the page's language. */
  hbs.registerHelper('relative', (ms: unknown, now: unknown, options: HelperOptions) =>
    typeof ms === 'number' && typeof now === 'number' ? relativeTime(ms, now, pageText(options).time) : '—',
  );
  /** `{{localize flash}}`: a `LocalText` (such as a flash message) in the page's language. */
  hbs.registerHelper('localize', (local: unknown, options: HelperOptions) =>
    typeof local === 'object' && local !== null ? localize(local as LocalText, pageText(options)) : '',
  );
  /** `{{fill t.admin.clearAllConfirm count=counts.total}}`: a page text with its `{name}` placeholders filled. */
  hbs.registerHelper('fill', (template: unknown, options: { hash: Record<string, string | number> }) =>
    typeof template === 'string' ? fillText(template, options.hash) : '',
  );
}

export function relativeTime(at: number, now: number, text: PageText['time'] = PAGE_TEXT.en.time): string {
  const delta = at - now;
  const span = Math.abs(delta);
  if (span < MINUTE) return delta >= 0 ? text.underAMinute : text.justNow;
  const amount =
    span < HOUR
      ? fillText(text.minutes, { count: Math.round(span / MINUTE) })
      : span < DAY
        ? fillText(text.hours, { count: Math.round(span / HOUR) })
        : fillText(text.days, { count: Math.round(span / DAY) });
  return fillText(delta >= 0 ? text.ahead : text.ago, { amount });
}

interface HelperOptions {
  data: { root: { t?: PageText } };
}

/** The page text `renderPage` gave the page (`t`), English for a page rendered without it. */
function pageText(options: HelperOptions): PageText {
  return options.data.root.t ?? PAGE_TEXT.en;
}
