import Handlebars from 'handlebars';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

export type RenderTemplate = (name: string, context: Record<string, unknown>) => string;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * Compiles templates from `viewsDir` on first use and keeps them: `<name>.hbs`, wrapped in
 * `layouts/<context.layout ?? 'main'>.hbs` (which places `{{{body}}}`), with every `partials/*.hbs`
 * available as `{{> name}}`. `{{ }}` escapes; templates only use `{{{ }}}` for the rendered body.
 */
export function createTemplateRenderer(viewsDir: string): RenderTemplate {
  const handlebars = Handlebars.create();
  registerHelpers(handlebars);
  const cache = new Map<string, Handlebars.TemplateDelegate>();
  let partialsLoaded = false;

  const compiled = (name: string): Handlebars.TemplateDelegate => {
    let template = cache.get(name);
    if (!template) {
      template = handlebars.compile(readFileSync(join(viewsDir, `${name}.hbs`), 'utf8'), { strict: false, preventIndent: true });
      cache.set(name, template);
    }
    return template;
  };

  return (name, context) => {
    if (!partialsLoaded) {
      const partialsDir = join(viewsDir, 'partials');
      for (const file of readdirSync(partialsDir).filter((entry) => entry.endsWith('.hbs'))) {
        handlebars.registerPartial(basename(file, '.hbs'), readFileSync(join(partialsDir, file), 'utf8'));
      }
      partialsLoaded = true;
    }
    const body = compiled(name)(context);
    const layout = typeof context.layout === 'string' ? context.layout : 'main';
    return compiled(`layouts/${layout}`)({ ...context, body });
  };
}

function registerHelpers(handlebars: typeof Handlebars): void {
  handlebars.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  /** `{{plural n "duplicate"}}` → "1 duplicate", "2 duplicates". */
  handlebars.registerHelper('plural', (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`);
  /** `{{iso ms}}`: a machine-readable time for `<time datetime>`. */
  handlebars.registerHelper('iso', (ms: unknown) => (typeof ms === 'number' ? new Date(ms).toISOString() : ''));
  /** `{{relative ms @root.now}}`: "in 9 d", "5 min ago", "—" when unknown. */
  handlebars.registerHelper('relative', (ms: unknown, now: unknown) => (typeof ms === 'number' && typeof now === 'number' ? relativeTime(ms, now) : '—'));
}

export function relativeTime(at: number, now: number): string {
  const delta = at - now;
  const span = Math.abs(delta);
  if (span < MINUTE) return delta >= 0 ? 'in under a minute' : 'just now';
  const amount = span < HOUR ? `${Math.round(span / MINUTE)} min` : span < DAY ? `${Math.round(span / HOUR)} h` : `${Math.round(span / DAY)} d`;
  return delta >= 0 ? `in ${amount}` : `${amount} ago`;
}
