import type { CookieOptions, Request, Response } from 'express';

export const PAGE_LANGUAGES = ['zh', 'en'] as const;
export type PageLanguage = (typeof PAGE_LANGUAGES)[number];
/** `auto` follows the device (`prefers-color-scheme`); the others pin the theme. */
export const PAGE_THEMES = ['auto', 'light', 'dark'] as const;
export type PageTheme = (typeof PAGE_THEMES)[number];

export const LANGUAGE_COOKIE = 'flowgpt-lang';
export const THEME_COOKIE = 'flowgpt-theme';
/** The reference's pages default to Chinese. */
export const DEFAULT_LANGUAGE: PageLanguage = 'zh';
const PREFERENCE_MAX_AGE_MS = 365 * 24 * 60 * 60_000;

export interface PagePreferences {
  lang: PageLanguage;
  theme: PageTheme;
}

/**
 * The language a visitor asked for in `Accept-Language`: the highest-weighted of ours (`zh-CN`, `zh-TW` and
 * `zh` are Chinese; `en-*` English), else the default.
 */
export function languageFromAcceptLanguage(header: string | undefined): PageLanguage {
  let best: { lang: PageLanguage; weight: number } | null = null;
  for (const [index, part] of (header ?? '').split(',').entries()) {
    const [tag, ...params] = part.trim().toLowerCase().split(';');
    const primary = tag.split('-')[0] as PageLanguage;
    if (!PAGE_LANGUAGES.includes(primary)) continue;
    const q = params.map((param) => /^\s*q=([0-9.]+)\s*$/.exec(param)?.[1]).find((value) => value !== undefined);
    const weight = q === undefined ? 1 : Number(q);
    if (!(weight > 0)) continue;
    // Earlier entries win ties, as their order is the visitor's.
    const adjusted = weight - index * 1e-6;
    if (!best || adjusted > best.weight) best = { lang: primary, weight: adjusted };
  }
  return best?.lang ?? DEFAULT_LANGUAGE;
}

function oneOf<T extends string>(allowed: readonly T[], value: unknown): T | undefined {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value) ? (value as T) : undefined;
}

/**
 * The language and theme of this page view. A switch link (`?lang=en`, `?theme=dark`) is remembered in a
 * cookie; otherwise the cookie, else `Accept-Language` and the device's theme decide.
 */
export function pagePreferences(request: Request, response: Response): PagePreferences {
  const cookies = (request.cookies ?? {}) as Record<string, unknown>;
  const chosenLang = oneOf(PAGE_LANGUAGES, request.query.lang);
  const chosenTheme = oneOf(PAGE_THEMES, request.query.theme);
  const options: CookieOptions = { httpOnly: true, sameSite: 'lax', secure: request.secure, path: '/', maxAge: PREFERENCE_MAX_AGE_MS };
  if (chosenLang) response.cookie(LANGUAGE_COOKIE, chosenLang, options);
  if (chosenTheme) response.cookie(THEME_COOKIE, chosenTheme, options);
  return {
    lang: chosenLang ?? oneOf(PAGE_LANGUAGES, cookies[LANGUAGE_COOKIE]) ?? languageFromAcceptLanguage(request.get('accept-language')),
    theme: chosenTheme ?? oneOf(PAGE_THEMES, cookies[THEME_COOKIE]) ?? 'auto',
  };
}

/** A page's path and query (`/admin?x=1`) with one parameter set, for the switch links (relative, so never off-site). */
export function withQuery(page: string, name: string, value: string): string {
  const url = new URL(page, 'http://page.invalid');
  url.searchParams.set(name, value);
  return `${url.pathname}${url.search}`;
}
