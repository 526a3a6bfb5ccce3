import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Browser, chromium, Page } from 'playwright-core';
import { maskSecret } from '../../src/common/util/secrets';
import { poolServicesOf } from '../../src/token-pool/testing/pool-services';
import { Stack, startStack } from '../support/stack';
import { CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS } from '../support/chromium';

const ADMIN_KEY = 'browser-admin-key-5d1e';

jest.setTimeout(60_000);

describe('Admin dashboard in Chromium', () => {
  let stack: Stack;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}: install it (apt-get install -y chromium).`);
    mkdirSync(SCREENSHOTS, { recursive: true });
    stack = await startStack({ env: { ADMIN_KEY } });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    // Any script error, CSP violation or missing asset is a bug of the page (the wrong-secret answer is a 401 on purpose).
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().includes('status of 401')) problems.push(message.text());
    });
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  const flash = () => page.locator('.flash').textContent();

  it('signs in, uploads tokens, shows them masked and clears them', async () => {
    await page.goto(`${stack.url}/admin`);
    expect(page.url()).toBe(`${stack.url}/admin/login`);
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-login.png') });

    await page.fill('#secret', 'not-the-key');
    await page.click('button[type=submit]');
    expect(await flash()).toBe('Wrong admin secret.');
    await page.fill('#secret', ADMIN_KEY);
    await Promise.all([page.waitForURL(`${stack.url}/admin`), page.click('button[type=submit]')]);
    expect(await page.locator('.empty').first().textContent()).toContain('The pool is empty.');

    const tokens = [
      stack.fake.createAccessToken({ email: 'ada@example.com', plan: 'plus' }),
      stack.fake.createAccessToken({ email: 'grace@example.com', plan: 'team' }),
      stack.fake.createRefreshToken(),
    ];
    await page.fill('#tokens', `${tokens[0]}\n${tokens[1]}`);
    // The file input reads a .txt file into the textarea, without a multipart upload.
    await page.setInputFiles('#token-file', {
      name: 'tokens.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from(`${tokens[2]}\n${tokens[0]}\n`),
    });
    await page.waitForFunction(() => (document.getElementById('tokens') as HTMLTextAreaElement).value.split('\n').length === 4);
    await Promise.all([page.waitForURL(`${stack.url}/admin`), page.click('#upload button[type=submit]')]);
    expect(await flash()).toBe('Added 3, 1 duplicate, 0 invalid.');

    const html = await page.content();
    for (const token of tokens) {
      expect(html).toContain(maskSecret(token));
      expect(html).not.toContain(token);
    }
    expect(await page.locator('#accounts tbody tr').count()).toBe(3);
    expect(await page.locator('.stat').first().textContent()).toContain('3');

    // A banned account and a seed, so that the screenshots show every part of the page.
    const pool = poolServicesOf(stack.app);
    const banned = (await pool.readModel.list()).find((account) => account.email === 'grace@example.com')!;
    await pool.leaser.report(banned.id, { kind: 'forbidden', reason: 'account deactivated' });
    await pool.seeds.createSeed('seed-for-the-screenshot');
    await page.reload();
    expect(await page.locator(`form[action="/admin/tokens/${banned.id}/restore"]`).count()).toBe(1);
    // Each row's buttons say which account they act on (found in review).
    for (const token of tokens)
      expect(await page.getByRole('button', { name: `Remove ${maskSecret(token)}`, exact: true }).count()).toBe(1);
    expect(await page.getByRole('button', { name: `Restore ${banned.maskedToken}`, exact: true }).count()).toBe(1);
    expect(await page.getByRole('button', { name: `Refresh ${maskSecret(tokens[2])}`, exact: true }).count()).toBe(1);
    expect(await page.getByRole('button', { name: `Remove seed ${maskSecret('seed-for-the-screenshot')}`, exact: true }).count()).toBe(1);
    expect(await page.content()).not.toContain('seed-for-the-screenshot');
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-dashboard.png'), fullPage: true });

    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-dashboard-phone.png'), fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBe(0);
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-dashboard-dark.png'), fullPage: true });
    await page.emulateMedia({ colorScheme: 'light' });

    page.once('dialog', (dialog) => void dialog.dismiss());
    await page.click('button:has-text("Clear all")');
    expect(await page.locator('#accounts tbody tr').count()).toBe(3);

    page.once('dialog', (dialog) => {
      expect(dialog.message()).toContain('Remove all 3 accounts');
      void dialog.accept();
    });
    await Promise.all([page.waitForURL(`${stack.url}/admin`), page.click('button:has-text("Clear all")')]);
    expect(await flash()).toBe('Removed all accounts (3).');
    expect(await page.locator('#accounts tbody tr').count()).toBe(0);
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-dashboard-empty.png'), fullPage: true });

    expect(problems).toEqual([]);
  });

  it('pages a large pool: Next and Previous move through it, and removing a row on page 2 comes back to page 2', async () => {
    await page.goto(`${stack.url}/admin`);
    if (page.url().endsWith('/admin/login')) {
      await page.fill('#secret', ADMIN_KEY);
      await Promise.all([page.waitForURL(`${stack.url}/admin`), page.click('button[type=submit]')]);
    }
    const tokens = Array.from({ length: 150 }, () => stack.fake.createRefreshToken());
    await poolServicesOf(stack.app).admin.upload(tokens);
    await page.reload();
    const range = () => page.locator('.pager-range').first().textContent();
    expect(await page.locator('#accounts tbody tr').count()).toBe(100);
    expect(await range()).toBe('Accounts 1–100 of 150');
    await Promise.all([page.waitForURL(`${stack.url}/admin?page=2#accounts`), page.getByRole('link', { name: 'Next' }).first().click()]);
    expect(await page.locator('#accounts tbody tr').count()).toBe(50);
    expect(await range()).toBe('Accounts 101–150 of 150');
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-dashboard-page-2.png') });

    const row = page.locator('#accounts tbody tr').first();
    const masked = await row.locator('code.token').textContent();
    page.once('dialog', (dialog) => void dialog.accept());
    await Promise.all([page.waitForURL(`${stack.url}/admin?page=2`), row.getByRole('button', { name: `Remove ${masked}` }).click()]);
    expect(await flash()).toMatch(/^Removed account /);
    expect(await page.locator('.flash').isVisible()).toBe(true);
    expect(await page.evaluate(() => window.scrollY)).toBe(0);
    expect(await range()).toBe('Accounts 101–149 of 149');
    await Promise.all([page.waitForURL(`${stack.url}/admin#accounts`), page.getByRole('link', { name: 'Previous' }).first().click()]);
    expect(await page.locator('#accounts tbody tr').count()).toBe(100);

    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBe(0);
    await page.setViewportSize({ width: 1280, height: 800 });
    await poolServicesOf(stack.app).admin.clear();
    expect(problems).toEqual([]);
  });

  it('shows the keyboard focus on the "Load a .txt file" button, whose file input is invisible (found in review)', async () => {
    await page.goto(`${stack.url}/admin`);
    const outline = () => page.locator('label.btn-file').evaluate((label) => getComputedStyle(label).outlineStyle);
    expect(await outline()).toBe('none');
    await page.focus('#tokens');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('token-file');
    expect(await outline()).toBe('solid');
    await page.locator('label.btn-file').screenshot({ path: join(SCREENSHOTS, 'admin-file-button-focused.png') });
  });

  it('speaks Chinese on the Chinese dashboard: the wrong-secret message, the flash, the kind and the times (found in review)', async () => {
    const context = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1280, height: 800 } });
    try {
      const zh = await context.newPage();
      await zh.goto(`${stack.url}/admin/login`);
      await zh.fill('#secret', 'not-the-key');
      await zh.click('button[type=submit]');
      expect(await zh.locator('.flash').textContent()).toBe('管理密钥错误。');
      await zh.fill('#secret', ADMIN_KEY);
      await Promise.all([zh.waitForURL(`${stack.url}/admin`), zh.click('button[type=submit]')]);
      await zh.fill('#tokens', `${stack.fake.createAccessToken()}\nnot-a-token`);
      await Promise.all([zh.waitForURL(`${stack.url}/admin`), zh.click('#upload button[type=submit]')]);
      expect(await zh.locator('html').getAttribute('lang')).toBe('zh-CN');
      const row = zh.locator('#accounts tbody tr').first();
      expect({
        flash: await zh.locator('.flash').textContent(),
        kind: await row.locator('td').nth(1).textContent(),
        expires: await row.locator('td').nth(4).textContent(),
      }).toEqual({
        flash: '已添加 1 个，重复 0 个，无效 1 个（第 2 行）。',
        kind: '访问令牌',
        expires: expect.stringMatching(/^\d+ (分钟|小时|天)后$/),
      });
      await zh.screenshot({ path: join(SCREENSHOTS, 'admin-dashboard-zh.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });
});
