import type { Request, Response } from 'express';
import { languageFromAcceptLanguage, pagePreferences, withQuery } from './page-preferences';
import { PAGE_TEXT } from './page-text';

describe('languageFromAcceptLanguage', () => {
  it.each([
    [undefined, 'zh'],
    ['', 'zh'],
    ['en-US,en;q=0.9', 'en'],
    ['zh-CN,zh;q=0.9,en;q=0.8', 'zh'],
    ['zh-TW', 'zh'],
    ['fr-FR,en;q=0.5,zh;q=0.4', 'en'],
    ['en;q=0.3,zh;q=0.7', 'zh'],
    ['de-DE', 'zh'],
    ['en;q=0,zh;q=0.1', 'zh'],
    ['en, zh', 'en'],
  ])('%j → %s', (header, expected) => {
    expect(languageFromAcceptLanguage(header)).toBe(expected);
  });
});

describe('pagePreferences', () => {
  function requestWith(query: Record<string, string>, cookies: Record<string, string> = {}, acceptLanguage?: string): Request {
    return {
      query,
      cookies,
      secure: false,
      get: (name: string) => (name === 'accept-language' ? acceptLanguage : undefined),
    } as unknown as Request;
  }
  function response(): { res: Response; cookie: jest.Mock } {
    const cookie = jest.fn();
    return { res: { cookie } as unknown as Response, cookie };
  }

  it('remembers a switch in a cookie, and ignores values that are not ours', () => {
    const first = response();
    expect(pagePreferences(requestWith({ lang: 'en', theme: 'dark' }), first.res)).toEqual({ lang: 'en', theme: 'dark' });
    expect(first.cookie).toHaveBeenCalledWith('flowgpt-lang', 'en', expect.objectContaining({ httpOnly: true, sameSite: 'lax' }));
    expect(first.cookie).toHaveBeenCalledWith('flowgpt-theme', 'dark', expect.anything());
    const other = response();
    expect(pagePreferences(requestWith({ lang: 'fr', theme: 'neon' }, {}, 'en'), other.res)).toEqual({ lang: 'en', theme: 'auto' });
    expect(other.cookie).not.toHaveBeenCalled();
  });

  it('prefers the remembered cookie over Accept-Language', () => {
    expect(pagePreferences(requestWith({}, { 'flowgpt-lang': 'en', 'flowgpt-theme': 'light' }, 'zh-CN'), response().res)).toEqual({
      lang: 'en',
      theme: 'light',
    });
  });
});

describe('withQuery', () => {
  it('keeps the page and its other parameters, and never names another host', () => {
    expect(withQuery('/auth/login?next=%2Fc%2F1&lang=zh', 'lang', 'en')).toBe('/auth/login?next=%2Fc%2F1&lang=en');
    expect(withQuery('//evil.com/x', 'lang', 'en')).toBe('/x?lang=en');
  });
});

describe('PAGE_TEXT', () => {
  function keysOf(value: object, prefix = ''): string[] {
    return Object.entries(value).flatMap(([key, child]) =>
      typeof child === 'object' ? keysOf(child as object, `${prefix}${key}.`) : [`${prefix}${key}`],
    );
  }

  it('has every English text in Chinese too, none of them empty', () => {
    expect(keysOf(PAGE_TEXT.zh)).toEqual(keysOf(PAGE_TEXT.en));
    for (const lang of ['zh', 'en'] as const) for (const key of keysOf(PAGE_TEXT[lang])) expect(key && key.length).toBeTruthy();
  });
});
