import { join } from 'node:path';
import type { Page } from 'playwright-core';

/** Debian's Chromium, driven by playwright-core (no browser download). */
export const CHROMIUM = '/usr/bin/chromium';

/** Headless, and quiet: nothing of the browser's own reaches the network. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Where the browser tests save the screenshots a person looks at. */
export const SCREENSHOTS = join(__dirname, '..', '..', 'test-output', 'screenshots');

/**
 * Waits until the stub web app has started (its status leaves `loading`, however long a busy machine takes), then
 * checks that it is `ready`: a start that failed shows its error here at once, not as a timeout.
 */
export async function webAppStarted(page: Page): Promise<void> {
  await page.waitForFunction(() => document.getElementById('status')?.textContent !== 'loading', undefined, { timeout: 120_000 });
  expect(await page.locator('#status').textContent()).toBe('ready');
}
