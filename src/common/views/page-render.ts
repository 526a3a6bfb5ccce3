import type { Request, Response } from 'express';
import { applyOwnPagesCsp } from '../http/security-headers';
import { PAGE_THEMES, pagePreferences, withQuery } from './page-preferences';
import { PAGE_TEXT, type PageText } from './page-text';

/** Our pages are per visitor (language, session, CSRF token): never stored by a cache. */
const PAGE_HEADERS: Record<string, string> = { 'Cache-Control': 'no-store' };

/** A page's own data; its `title` may be picked from the page text of the visitor's language. */
export type PageContext = Record<string, unknown> & {
  title?: string | ((text: PageText) => string);
  /**
   * For the answer to a form post: the page the form is on, where the language and theme links lead, since the
   * post's own URL has no page to load (`/` when not given). A GET's links lead to the page itself.
   */
  formPage?: string;
};

/**
 * Renders one of our own pages (`views/<template>.hbs` in `layouts/main`) in the visitor's language and
 * theme, with the switch links the layout shows. `context` is the page's own data.
 */
export function renderPage(response: Response, template: string, context: PageContext, status = 200): void {
  const request = response.req as Request;
  applyOwnPagesCsp(request, response);
  const { lang, theme } = pagePreferences(request, response);
  const otherLang = lang === 'zh' ? 'en' : 'zh';
  const text = PAGE_TEXT[lang];
  const themeLabels = { auto: text.common.themeAuto, light: text.common.themeLight, dark: text.common.themeDark };
  const page = request.method === 'GET' || request.method === 'HEAD' ? request.originalUrl : (context.formPage ?? '/');
  response
    .status(status)
    .set(PAGE_HEADERS)
    .render(template, {
      ...context,
      title: typeof context.title === 'function' ? context.title(text) : context.title,
      lang,
      otherLang,
      htmlLang: lang === 'zh' ? 'zh-CN' : 'en',
      theme,
      t: text,
      languageSwitchUrl: withQuery(page, 'lang', otherLang),
      themeChoices: PAGE_THEMES.map((choice) => ({
        value: choice,
        label: themeLabels[choice],
        url: withQuery(page, 'theme', choice),
        current: choice === theme,
      })),
    });
}
