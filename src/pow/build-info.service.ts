import { Injectable, Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { UpstreamClient } from '../upstream/upstream.client';
import { WEB_APP_DEFAULTS, WebAppRelease } from '../upstream/web-app-defaults';

/**
 * What the browser's code would see on the upstream home page: its build id and script URLs (for the sentinel),
 * and the web app's release (`oai-client-version`, `oai-client-build-number`), the defaults where the page is silent.
 */
export interface BuildInfo extends WebAppRelease {
  dpl: string;
  scripts: string[];
}

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
      return parseBuildInfo(response.body.toString('utf8'), baseUrl);
    } catch (error) {
      this.logger.warn(`could not read the build id from the home page: ${(error as Error).message}`);
      return EMPTY_BUILD_INFO();
    }
  }
}

const EMPTY_BUILD_INFO = (): BuildInfo => ({ dpl: '', scripts: [], ...defaultRelease() });

const defaultRelease = (): WebAppRelease => ({
  clientVersion: WEB_APP_DEFAULTS.clientVersion,
  clientBuildNumber: WEB_APP_DEFAULTS.clientBuildNumber,
});

export function parseBuildInfo(html: string, baseUrl: string): BuildInfo {
  const scripts = [...html.matchAll(/<script[^>]*\ssrc="([^"]+)"/g)].map((match) => match[1]);
  let dpl = '';
  for (const src of scripts) {
    const build = /c\/([^/]+)\/_/.exec(src);
    if (build) {
      dpl = build[1];
      break;
    }
  }
  if (!dpl) dpl = /<html[^>]*\sdata-build="([^"]*)"/.exec(html)?.[1] ?? '';
  return { dpl, scripts: scripts.length > 0 ? scripts : [`${baseUrl}/backend-api/sentinel/sdk.js`], ...parseRelease(html) };
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
