import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { accessSync, constants, statSync } from 'node:fs';
import type { Browser, LaunchOptions } from 'playwright-core';
import { StartProblem } from '../common/startup/start-problem';
import { AppConfig } from '../config/app-config';
import { CLEARANCE_COOKIE, CLEARANCE_COOKIE_NAMES, ClearanceCookie, ClearanceRoute } from './clearance-jar';

/** Earns the clearance cookies of a route by passing its challenge; rejects with a reason when it cannot. */
export abstract class ClearanceSolver {
  abstract solve(route: ClearanceRoute, timeoutMs: number): Promise<ClearanceCookie[]>;
}

/** A cookie without an expiry lives as long as the browser session; Cloudflare's `__cf_bm` lasts 30 minutes. */
const SESSION_COOKIE_TTL_MS = 30 * 60_000;
const POLL_MS = 200;
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Passes a Cloudflare challenge the way a visitor does: headless Chromium (`CHROMIUM_PATH`, driven by playwright-core)
 * opens the challenged host's home page through the account's proxy with the account's user agent, runs the
 * challenge script and keeps the `cf_clearance` and `__cf_bm` cookies it is given. One browser per solve, launched
 * on demand and always closed after it: solves are rare, and no Chromium outlives the solve that needed it.
 */
@Injectable()
export class ChromiumClearanceSolver extends ClearanceSolver implements OnModuleInit, OnModuleDestroy {
  private readonly browsers = new Set<Browser>();

  constructor(private readonly config: AppConfig) {
    super();
  }

  /**
   * With the helper on, a Chromium that is not there stops the start: otherwise the first challenge, maybe days later,
   * would be the first to say so (the Docker image has none).
   */
  onModuleInit(): void {
    if (this.config.cfClearance !== 'chromium') return;
    const problem = notExecutable(this.config.chromiumPath);
    if (problem) {
      throw new StartProblem(
        `CHROMIUM_PATH=${this.config.chromiumPath} ${problem}, and CF_CLEARANCE=chromium launches it: install Chromium ` +
          '(Debian: apt-get install chromium), set CHROMIUM_PATH to its executable, or set CF_CLEARANCE=off',
      );
    }
  }

  /** Chromium instances running now (one per solve in progress). */
  get openBrowsers(): number {
    return this.browsers.size;
  }

  async solve(route: ClearanceRoute, timeoutMs: number): Promise<ClearanceCookie[]> {
    const deadline = Date.now() + timeoutMs;
    const remaining = () => Math.max(1, deadline - Date.now());
    // Loaded on first use: a deployment without the helper never loads playwright.
    const { chromium } = await import('playwright-core');
    const options: LaunchOptions = { executablePath: this.config.chromiumPath, headless: true, args: CHROMIUM_ARGS, timeout: remaining() };
    const proxy = chromiumProxy(route.proxyUrl);
    if (proxy) options.proxy = proxy;
    let browser: Browser;
    try {
      browser = await chromium.launch(options);
    } catch (error) {
      throw new Error(`Chromium did not start from ${this.config.chromiumPath}: ${firstLine(error)}`);
    }
    this.browsers.add(browser);
    try {
      const context = await browser.newContext({ userAgent: route.userAgent });
      const page = await context.newPage();
      let navigationError: string | undefined;
      // The challenge page answers 403 and reloads itself once its script has set the cookie: whether this
      // navigation ends or is interrupted by that reload does not matter, only the cookie does.
      page.goto(`${route.origin}/`, { timeout: remaining() }).catch((error: unknown) => {
        if (!/interrupted|ERR_ABORTED|frame was detached|Target .* closed/i.test(String(error))) navigationError = firstLine(error);
      });
      while (Date.now() < deadline) {
        const cookies = await context.cookies(route.origin);
        const earned = cookies.filter((cookie) => CLEARANCE_COOKIE_NAMES.includes(cookie.name));
        if (earned.some((cookie) => cookie.name === CLEARANCE_COOKIE)) {
          const now = Date.now();
          return earned.map(({ name, value, expires }) => ({
            name,
            value,
            expiresAt: expires > 0 ? expires * 1000 : now + SESSION_COOKIE_TTL_MS,
          }));
        }
        if (navigationError) throw new Error(`Chromium could not open ${route.origin}/: ${navigationError}`);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      throw new Error(`no ${CLEARANCE_COOKIE} cookie within ${timeoutMs} ms${navigationError ? ` (${navigationError})` : ''}`);
    } finally {
      await this.close(browser);
    }
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.all([...this.browsers].map((browser) => this.close(browser)));
  }

  private async close(browser: Browser): Promise<void> {
    this.browsers.delete(browser);
    await browser.close().catch(() => undefined);
  }
}

/** Playwright's proxy option from a `PROXY_URL` entry: the credentials travel apart from the server address. */
export function chromiumProxy(proxyUrl: string | undefined): LaunchOptions['proxy'] {
  if (!proxyUrl) return undefined;
  const url = new URL(proxyUrl);
  const scheme = url.protocol
    .slice(0, -1)
    .replace(/^socks5h$|^socks$/, 'socks5')
    .replace(/^socks4a$/, 'socks4');
  const username = decodeURIComponent(url.username);
  if (username && scheme.startsWith('socks')) throw new Error('Chromium cannot use a SOCKS proxy that needs a user name and password');
  return {
    server: `${scheme}://${url.host}`,
    ...(username ? { username, password: decodeURIComponent(url.password) } : {}),
  };
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error)
    .split('\n')[0]
    .trim();
}

/** Why `path` cannot be launched, or undefined when it is an executable file. */
function notExecutable(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return 'is not a file';
    accessSync(path, constants.X_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'does not exist';
    if (code === 'EACCES') return 'may not be run by this user';
    return `cannot be run (${code ?? (error as Error).message})`;
  }
}
