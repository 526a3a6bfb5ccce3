import { join } from 'node:path';

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
