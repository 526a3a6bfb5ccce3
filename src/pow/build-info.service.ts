import { Injectable, Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { UpstreamClient } from '../upstream/upstream.client';
import { WEB_APP_DEFAULTS, WebAppRelease } from '../upstream/web-app-defaults';

/**
 * What the browser's code would see on the upstream home page: its build id and script URLs (for the sentinel),
 * and the web app's release (`oai-client-version`, `oai-client-build-number`), the defaults where the page is silent.
 */
export interface BuildInfo extends WebAppRelease {
  /** The `c/…/_` fragment of a script path, else the html `data-build`; null when the page shows neither or could not be read. */
  dpl: string | null;
  scripts: string[];
}

/** What the reference lists when the page has no script (upstream-protocol.md §3.1): this URL, whatever the host. */
const FALLBACK_SCRIPT = 'https://chatgpt.com/backend-api/sentinel/sdk.js';

const REFRESH_INTERVAL_MS = 15 * 60_000;
const FETCH_TIMEOUT_MS = 5_000;
/** Keyed by the configured upstream base URLs, of which there are a few. */
const MAX_HOSTS = 100;

/** Reads the `dpl` build id and script URLs from the upstream home page, at most every 15 minutes per host. */
@Injectable()
export class BuildInfoService {
  private readonly logger = new Logger(BuildInfoService.name);
  /** Concurrent reads of one host share one fetch (lru-cache's `fetch`). */
  private readonly cache = new LRUCache<string, BuildInfo>({
    max: MAX_HOSTS,
    ttl: REFRESH_INTERVAL_MS,
    fetchMethod: (baseUrl) => this.fetch(baseUrl),
  });

  constructor(private readonly upstream: UpstreamClient) {}

  async get(baseUrl: string): Promise<BuildInfo> {
    return (await this.cache.fetch(baseUrl)) ?? EMPTY_BUILD_INFO();
  }

  private async fetch(baseUrl: string): Promise<BuildInfo> {
    try {
      const response = await this.upstream.request({
        url: `${baseUrl}/`,
        identity: { fingerprint: this.upstream.fingerprint('home-page') },
        headers: { accept: 'text/html' },
        timeoutMs: FETCH_TIMEOUT_MS,
        step: 'requirements',
      });
      if (response.status !== 200) throw new Error(`status ${response.status}`);
      return parseBuildInfo(response.body.toString('utf8'));
    } catch (error) {
      this.logger.warn(`could not read the build id from the home page: ${(error as Error).message}`);
      return EMPTY_BUILD_INFO();
    }
  }
}

const EMPTY_BUILD_INFO = (): BuildInfo => ({ dpl: null, scripts: [], ...defaultRelease() });

const defaultRelease = (): WebAppRelease => ({
  clientVersion: WEB_APP_DEFAULTS.clientVersion,
  clientBuildNumber: WEB_APP_DEFAULTS.clientBuildNumber,
});

/**
 * The build id and script URLs as the reference reads them (upstream-protocol.md §3.1): the whole `c/…/_` fragment
 * of the last script path that has one, else the html `data-build`, else null; no script at all lists chatgpt.com's
 * sentinel SDK.
 */
export function parseBuildInfo(html: string): BuildInfo {
  const scripts = [...html.matchAll(/<script[^>]*\ssrc="([^"]+)"/g)].map((match) => match[1]);
  let dpl: string | null = null;
  for (const src of scripts) dpl = /c\/[^/]*\/_/.exec(src)?.[0] ?? dpl;
  dpl ??= /<html[^>]*\sdata-build="([^"]*)"/.exec(html)?.[1] ?? null;
  return { dpl, scripts: scripts.length > 0 ? scripts : [FALLBACK_SCRIPT], ...parseRelease(html) };
}

/**
 * The web app's release from its page (`gateway-live-ui.md` §1): the version is the `<html data-build="prod-…">`
 * marker; the build number a `data-build-number` attribute or a `buildNumber`/`build_number` value in the inline
 * bootstrap or a script URL (where it sits is assumed: no public capture shows it). Each falls back to the defaults.
 */
export function parseRelease(html: string): WebAppRelease {
  const dataBuild = /<html[^>]*\sdata-build="([^"]*)"/.exec(html)?.[1] ?? '';
  const defaults = defaultRelease();
  const buildNumber =
    /\sdata-build-number="(\d+)"/.exec(html)?.[1] ??
    /["']?(?:client_?build_?number|build_?number|buildNumber)["']?\s*[:=]\s*["']?(\d+)/i.exec(html)?.[1];
  return {
    clientVersion: /^prod-[\w.-]+$/.test(dataBuild) ? dataBuild : defaults.clientVersion,
    clientBuildNumber: buildNumber ?? defaults.clientBuildNumber,
  };
}
