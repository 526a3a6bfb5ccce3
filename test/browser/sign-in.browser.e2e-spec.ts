import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { Browser, BrowserContext, chromium, Page } from 'playwright-core';
import { FakeUpstream } from '../fake-upstream/fake-upstream';
import { Stack, startStack } from '../support/stack';
import { CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS } from '../support/chromium';

const ADMIN_KEY = 'browser-sign-in-admin-key';

jest.setTimeout(120_000);

const RUNS = [
  {
    lang: 'zh',
    locale: 'zh-CN',
    colorScheme: 'light',
    heading: '登录',
    signOutQuestion: '您确定要退出登录吗？',
    signIn: '登录',
    cancel: '取消',
    signOut: '注销',
  },
  {
    lang: 'en',
    locale: 'en-US',
    colorScheme: 'dark',
    heading: 'Sign in',
    signOutQuestion: 'Are you sure you want to sign out?',
    signIn: 'Sign in',
    cancel: 'Cancel',
    signOut: 'Sign out',
  },
] as const;

describe('Sign-in pages in Chromium', () => {
  let fake: FakeUpstream;
  let stack: Stack;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}: install it (apt-get install -y chromium).`);
    mkdirSync(SCREENSHOTS, { recursive: true });
    fake = await FakeUpstream.start();
    // Signed in, `/` is the live chat shell: its scripts come from the fake's CDN too, not cdn.oaistatic.com.
    stack = await startStack({ fakeUpstream: fake, env: { ENABLE_GATEWAY: 'true', ADMIN_KEY, CDN_BASE_URL: fake.url } });
    await request(stack.url)
      .post('/admin/api/tokens')
      .set('Authorization', `Bearer ${ADMIN_KEY}`)
      .send({ tokens: [stack.fake.createAccessToken()] })
      .expect(200);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await fake?.close();
  });

  /** A fresh browser per run, which reports any script error, CSP violation or missing asset as a bug of the page. */
  async function open(
    run: (typeof RUNS)[number],
    viewport = { width: 1280, height: 800 },
  ): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
    const context = await browser.newContext({ locale: run.locale, colorScheme: run.colorScheme, viewport });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      // The refused token is answered 400 on purpose; the fake web app's shell (signed-in `/`) has no favicon.
      const favicon = message.location().url.endsWith('/favicon.ico');
      if (message.type() === 'error' && !message.text().includes('status of 400') && !favicon) problems.push(message.text());
    });
    return { context, page, problems };
  }

  const shot = (page: Page, name: string, run: (typeof RUNS)[number]) =>
    page.screenshot({ path: join(SCREENSHOTS, `sign-in-${name}-${run.lang}-${run.colorScheme}.png`), fullPage: true });

  it.each(RUNS)('signs a seed user in through the form, cancels the sign-out, then signs out ($lang, $colorScheme)', async (run) => {
    const { context, page, problems } = await open(run);
    await page.goto(`${stack.url}/`);
    await shot(page, 'home', run);
    await Promise.all([page.waitForURL(`${stack.url}/auth/login`), page.click('a.btn-primary')]);
    expect(await page.locator('h1').textContent()).toBe(run.heading);
    expect(await page.getAttribute('html', 'lang')).toBe(run.lang === 'zh' ? 'zh-CN' : 'en');
    await shot(page, 'form', run);

    await page.fill('#token', 'short');
    await page.click('button[type=submit]');
    expect(await page.locator('.flash-error').getAttribute('data-reason')).toBe('seedTooShort');
    expect(await page.inputValue('#token')).toBe('short');
    await shot(page, 'error', run);

    await page.fill('#token', `browser-seed-${run.lang}-4821`);
    await Promise.all([page.waitForURL(`${stack.url}/`), page.click(`button:has-text("${run.signIn}")`)]);
    // Signed in, `/` is the gateway's live chat shell (the fake web app's page).
    expect(await page.locator('form#composer').count()).toBe(1);
    const session = await page.evaluate(async () => (await fetch('/api/auth/session')).json());
    expect(session.accessToken).toMatch(/^fgst-/);
    const cookies = await context.cookies();
    const sessionCookie = cookies.find((cookie) => cookie.name === 'flowgpt-session')!;
    expect(sessionCookie.httpOnly).toBe(true);
    expect(sessionCookie.sameSite).toBe('Lax');
    expect(await page.evaluate(() => document.cookie)).not.toContain('flowgpt-session');
    await shot(page, 'signed-in', run);

    await page.goto(`${stack.url}/auth/logout`);
    expect(await page.locator('p.muted').first().textContent()).toBe(run.signOutQuestion);
    await shot(page, 'sign-out', run);
    await Promise.all([page.waitForURL(`${stack.url}/`), page.click(`a:has-text("${run.cancel}")`)]);
    expect((await page.evaluate(async () => (await fetch('/api/auth/session')).json())).accessToken).toBe(session.accessToken);

    await page.goto(`${stack.url}/auth/logout`);
    await Promise.all([page.waitForURL(`${stack.url}/`), page.click(`button:has-text("${run.signOut}")`)]);
    expect(await page.evaluate(async () => (await fetch('/api/auth/session')).json())).toEqual({});
    expect(await page.locator('a.btn-primary').getAttribute('href')).toBe('/auth/login');

    expect(problems).toEqual([]);
    await context.close();
  });

  it('leads an owner whose RefreshToken was revoked back to the form, which says the session ended', async () => {
    const { context, page } = await open(RUNS[1]);
    // AccessTokens short-lived enough that each use exchanges the RefreshToken again, so the revocation is seen at once.
    const refreshToken = fake.createRefreshToken({ accessTokenTtlSec: 60, account: { email: 'revoked-owner@example.com' } });
    await page.goto(`${stack.url}/auth/login`);
    await page.fill('#token', refreshToken);
    await Promise.all([page.waitForURL(`${stack.url}/`), page.click('button[type=submit]')]);
    expect(await page.locator('form#composer').count()).toBe(1);

    fake.revokeRefreshToken(refreshToken);
    await page.goto(`${stack.url}/c/abc`);
    expect(page.url()).toBe(`${stack.url}/auth/login?next=%2Fc%2Fabc`);
    expect(await page.locator('#token').count()).toBe(1);
    expect(await page.locator('.flash-error').getAttribute('data-reason')).toBe('sessionEnded');
    await page.screenshot({ path: join(SCREENSHOTS, 'sign-in-session-ended-en-dark.png'), fullPage: true });
    // Back at the form for good: opening it again shows the plain form, not a redirect into the dead session.
    await page.goto(`${stack.url}/auth/login`);
    expect(page.url()).toBe(`${stack.url}/auth/login`);
    expect(await page.locator('.flash-error').count()).toBe(0);
    expect(await page.evaluate(async () => (await fetch('/api/auth/session')).json())).toEqual({});
    await context.close();
  });

  it('follows a quick link the visitor navigates to, never one a page of this site loads with an <img> or fetch()', async () => {
    const { context, page, problems } = await open(RUNS[1]);
    const sessionNow = () => page.evaluate(async () => (await fetch('/api/auth/session')).json());
    const loadWithoutNavigating = (link: string) =>
      page.evaluate(async (url) => {
        await fetch(url);
        await new Promise<void>((resolve) => {
          const image = new Image();
          image.onload = image.onerror = () => resolve();
          image.src = url;
        });
      }, link);

    const signInLink = '/api/auth/signin?signin=browser-quick-link-5309';
    await page.goto(`${stack.url}/auth/login`);
    await loadWithoutNavigating(signInLink);
    expect(await sessionNow()).toEqual({});
    await page.goto(`${stack.url}${signInLink}`);
    expect(page.url()).toBe(`${stack.url}/`);
    const session = await sessionNow();
    expect(session.accessToken).toMatch(/^fgst-/);

    const signOutLink = '/api/auth/signout?signout=true';
    await page.goto(`${stack.url}/auth/logout`);
    await loadWithoutNavigating(signOutLink);
    expect((await sessionNow()).accessToken).toBe(session.accessToken);
    // A link on our own page is a same-origin navigation: it signs out at once.
    await page.evaluate((url) => {
      const link = document.createElement('a');
      link.href = url;
      link.id = 'quick-sign-out';
      link.textContent = 'Sign out now';
      document.body.append(link);
    }, signOutLink);
    await Promise.all([page.waitForURL(`${stack.url}/`), page.click('#quick-sign-out')]);
    expect(await sessionNow()).toEqual({});

    expect(problems).toEqual([]);
    await context.close();
  });

  it('remembers the language and theme switches, and fits a phone', async () => {
    const { context, page, problems } = await open(RUNS[0], { width: 390, height: 844 });
    await page.goto(`${stack.url}/auth/login`);
    await page.click('.prefs-lang');
    expect(await page.locator('h1').textContent()).toBe('Sign in');
    await page.click('.prefs-theme-dark');
    expect(await page.getAttribute('html', 'data-theme')).toBe('dark');
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(background).toBe('rgb(15, 17, 21)');
    await page.goto(`${stack.url}/`);
    expect(await page.getAttribute('html', 'lang')).toBe('en');
    expect(await page.getAttribute('html', 'data-theme')).toBe('dark');
    await page.goto(`${stack.url}/auth/login`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBe(0);
    await page.screenshot({ path: join(SCREENSHOTS, 'sign-in-form-phone-en-dark.png'), fullPage: true });
    expect(problems).toEqual([]);
    await context.close();
  });
});
