import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Browser, chromium, Page } from 'playwright-core';
import { FakeUpstream } from '../fake-upstream/fake-upstream';
import { GatewayStack, startGateway } from '../support/gateway-stack';
import { CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, webAppStarted } from '../support/chromium';

jest.setTimeout(120_000);

/**
 * The fake upstream's web-app stub, live through the gateway in a real browser: its page (fetched and rewritten
 * per request), its script from the CDN path, the session, profile and list reads, the browser's own sentinel
 * and proof of work, the conversation post and the streamed answer.
 */
describe('the stub web app through the gateway, in Chromium', () => {
  let fake: FakeUpstream;
  let gw: GatewayStack;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}: install it (apt-get install -y chromium).`);
    mkdirSync(SCREENSHOTS, { recursive: true });
    fake = await FakeUpstream.start();
    gw = await startGateway({ fake, env: { CDN_BASE_URL: fake.url } });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    await fake?.close();
  });

  async function openAs(cookie: string): Promise<void> {
    const context = await browser.newContext({ viewport: { width: 1024, height: 700 } });
    const [name, value] = cookie.split('=');
    await context.addCookies([{ name, value, url: gw.url }]);
    page = await context.newPage();
    page.on('pageerror', (error) => problems.push(error.message));
    // Failed loads are reported by URL below; the console's copy of them says nothing more.
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(message.text());
    });
    page.on('requestfailed', (request) => problems.push(`${request.url()} failed`));
    page.on('response', (response) => {
      const path = new URL(response.url()).pathname;
      // The stub tries today's paths first and falls back to the classic ones while the fake lacks them.
      const fallback =
        response.status() === 404 &&
        (path === '/backend-api/sentinel/chat-requirements/prepare' || path === '/backend-api/f/conversation/prepare');
      if (response.status() >= 400 && !fallback && path !== '/favicon.ico')
        problems.push(`${response.url()} answered ${response.status()}`);
    });
  }

  it('signs in with a SessionToken account, reads the account, sends a message and shows the streamed answer', async () => {
    const email = 'browser-owner@example.com';
    const accessToken = fake.createAccessToken({ email });
    const session = gw.signIn('owner', {
      accessToken,
      email,
      userId: 'user-browserownerxxxxxxxxxxx',
      sessionToken: fake.webApp.createSessionToken(accessToken),
    });
    fake.setDefaultAnswer('Hello from the stub web app!');
    await openAs(session.cookie);

    await page.goto(`${gw.url}/`);
    await webAppStarted(page);
    expect(await page.locator('#profile').textContent()).toContain(email);
    expect(await page.content()).not.toContain(accessToken);

    await page.fill('#prompt', 'Say hello');
    await page.click('button[type=submit]');
    await page.waitForFunction(() => document.getElementById('status')?.textContent !== 'sending', undefined, { timeout: 120_000 });
    expect(await page.locator('#status').textContent()).toBe('answered');
    expect(await page.locator('#answer').textContent()).toBe('Hello from the stub web app!');
    // The web app says 'answered' and then reloads its list: the list is waited for, not read at once.
    await page.locator('#conversations li').first().waitFor({ timeout: 120_000 });
    expect(await page.locator('#conversations li').count()).toBe(1);
    await page.screenshot({ path: join(SCREENSHOTS, 'gateway-stub-web-app.png') });

    // The browser solved the proof of work itself, and the fake checked it.
    const posted = fake.conversationRequests().pop();
    expect(String(posted?.headers['openai-sentinel-proof-token'])).toMatch(/^gAAAAAB/);
    // Today's path, with the turn's headers and conduit token (the fake refuses it without them).
    expect(posted?.path).toBe('/backend-api/f/conversation');
    expect(String(posted?.headers['x-conduit-token'])).toMatch(/^ct_/);
    expect(posted?.headers.authorization).toBe(`Bearer ${accessToken}`);
    expect(problems).toEqual([]);
  });

  it("follows a thinking model's WebSocket hand-off through the gateway bridge and shows the answer", async () => {
    problems.length = 0;
    fake.handoff.reset();
    const email = 'browser-thinker@example.com';
    const accessToken = fake.createAccessToken({ email });
    const session = gw.signIn('owner', {
      accessToken,
      email,
      userId: 'user-browserthinkerxxxxxxxxx',
      sessionToken: fake.webApp.createSessionToken(accessToken),
    });
    fake.setDefaultAnswer('Thought it through: the answer came over the socket.');
    await openAs(session.cookie);

    await page.goto(`${gw.url}/?model=o3`);
    await webAppStarted(page);
    await page.fill('#prompt', 'Think, then answer');
    await page.click('button[type=submit]');
    await page.waitForFunction(
      () => !['sending', 'following the hand-off'].includes(document.getElementById('status')?.textContent ?? ''),
      undefined,
      { timeout: 120_000 },
    );
    expect(await page.locator('#status').textContent()).toBe('answered');
    expect(await page.locator('#answer').textContent()).toBe('Thought it through: the answer came over the socket.');
    await page.screenshot({ path: join(SCREENSHOTS, 'gateway-stub-web-app-handoff.png') });

    // The conversation POST answered only the stub; the answer came through our bridge, not straight from upstream.
    const posted = fake.conversationRequests().pop();
    expect((posted?.body as Record<string, unknown>).model).toBe('o3');
    const socketUrl = await page.evaluate(
      () => (window as unknown as { __fakeWebApp: { lastSocketUrl?: string } }).__fakeWebApp.lastSocketUrl,
    );
    expect(socketUrl).toMatch(new RegExp(`^${gw.url.replace(/^http/, 'ws').replace(/[.]/g, '\\.')}/gateway-ws/[A-Za-z0-9_-]{32}$`));
    expect(socketUrl).not.toContain(new URL(fake.url).host);
    expect(fake.handoff.stats.urlFetches).toBe(1);
    expect(fake.handoff.stats.socketsOpened).toBe(1);
    expect(fake.handoff.stats.subscriptions).toEqual([expect.stringMatching(/^conversation-turn-/)]);
    expect(await page.content()).not.toContain(accessToken);
    expect(problems).toEqual([]);
  });
});
