import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Browser, chromium, Page } from 'playwright-core';
import { SeedRegistry } from '../../src/token-pool/seed-registry';
import { SignedInGatewayStack, startSignedInGateway } from '../support/gateway-stack';
import { CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, webAppStarted } from '../support/chromium';

const POOL_EMAIL = 'shared.pool.person@example.com';

jest.setTimeout(180_000);

const RUNS = [
  { lang: 'zh', locale: 'zh-CN', colorScheme: 'light', signIn: '登录', cancel: '取消', signOut: '注销' },
  { lang: 'en', locale: 'en-US', colorScheme: 'dark', signIn: 'Sign in', cancel: 'Cancel', signOut: 'Sign out' },
] as const;

/**
 * A shared (seed) user in a real browser, with the real sign-in: the form, the stub web app through the gateway
 * (session, profile, own conversation list, the browser's own sentinel and proof of work, the streamed answer),
 * and the sign-out with its "cancel". The pool account's identity appears nowhere on the page.
 */
describe('a seed user chats through FlowGPT, in Chromium', () => {
  let gw: SignedInGatewayStack;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}: install it (apt-get install -y chromium).`);
    mkdirSync(SCREENSHOTS, { recursive: true });
    gw = await startSignedInGateway();
    await gw.upload([gw.fake.createRefreshToken({ account: { email: POOL_EMAIL } })]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
    await gw?.close();
  });

  it.each(RUNS)('signs in with a seed, sends a message, sees the answer, signs out ($lang, $colorScheme)', async (run) => {
    const context = await browser.newContext({ locale: run.locale, colorScheme: run.colorScheme, viewport: { width: 1024, height: 700 } });
    const page: Page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(message.text());
    });
    page.on('response', (response) => {
      const path = new URL(response.url()).pathname;
      // The stub tries today's paths first and falls back to the classic ones while the fake lacks them.
      const fallback =
        response.status() === 404 && (path === '/backend-api/sentinel/chat-requirements/prepare' || path === '/backend-api/f/conversation');
      if (response.status() >= 400 && !fallback && path !== '/favicon.ico')
        void response.text().then((t) => problems.push(`${response.url()} answered ${response.status()} ${t}`));
    });
    const shot = (name: string) =>
      page.screenshot({ path: join(SCREENSHOTS, `seed-chat-${name}-${run.lang}-${run.colorScheme}.png`), fullPage: true });

    const seed = `browser-seed-chat-${run.lang}-7734`;
    await page.goto(`${gw.url}/auth/login`);
    await page.fill('#token', seed);
    await shot('sign-in');
    await Promise.all([page.waitForURL(`${gw.url}/`), page.click(`button:has-text("${run.signIn}")`)]);
    await webAppStarted(page);
    expect(await page.locator('#profile').textContent()).toContain('FlowGPT User');
    expect(await page.locator('#conversations li').count()).toBe(0);

    gw.fake.setDefaultAnswer(run.lang === 'zh' ? '你好，来自共享账号！' : 'Hello from the shared account!');
    await page.fill('#prompt', run.lang === 'zh' ? '打个招呼' : 'Say hello');
    await page.click('button[type=submit]');
    await page.waitForFunction(() => document.getElementById('status')?.textContent !== 'sending', undefined, { timeout: 120_000 });
    expect(await page.locator('#status').textContent()).toBe('answered');
    expect(await page.locator('#answer').textContent()).toBe(run.lang === 'zh' ? '你好，来自共享账号！' : 'Hello from the shared account!');
    // The conversation it made is its own: recorded, and the only one it lists.
    // The web app says 'answered' and then reloads its list: the list is waited for, not read at once.
    await page.locator('#conversations li').first().waitFor({ timeout: 120_000 });
    expect(await page.locator('#conversations li').count()).toBe(1);
    expect(await gw.app.get(SeedRegistry).seedConversations(seed)).toHaveLength(1);
    await shot('answered');
    const html = await page.content();
    expect(html).not.toContain(POOL_EMAIL);
    expect(html).not.toContain('shared.pool.person');

    await page.goto(`${gw.url}/auth/logout`);
    await shot('sign-out');
    await Promise.all([page.waitForURL(`${gw.url}/`), page.click(`a:has-text("${run.cancel}")`)]);
    expect((await page.evaluate(async () => (await fetch('/api/auth/session')).json())).accessToken).toMatch(/^fgst-/);
    await page.goto(`${gw.url}/auth/logout`);
    await Promise.all([page.waitForURL(`${gw.url}/`), page.click(`button:has-text("${run.signOut}")`)]);
    expect(await page.evaluate(async () => (await fetch('/api/auth/session')).json())).toEqual({});
    await shot('signed-out');

    expect(problems).toEqual([]);
    await context.close();
  });
});
