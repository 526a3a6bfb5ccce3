import { Injectable, Logger } from '@nestjs/common';
import { UpstreamClient } from '../upstream/upstream.client';

/** What the browser's sentinel code would see on the upstream home page: its build id and script URLs. */
export interface BuildInfo {
  dpl: string;
  scripts: string[];
}

const REFRESH_INTERVAL_MS = 15 * 60_000;
const FETCH_TIMEOUT_MS = 5_000;

/** Reads the `dpl` build id and script URLs from the upstream home page, at most every 15 minutes per host. */
@Injectable()
export class BuildInfoService {
  private readonly logger = new Logger(BuildInfoService.name);
  private readonly cache = new Map<string, { info: BuildInfo; fetchedAt: number; pending?: Promise<BuildInfo> }>();

  constructor(private readonly upstream: UpstreamClient) {}

  async get(baseUrl: string): Promise<BuildInfo> {
    const cached = this.cache.get(baseUrl);
    if (cached && Date.now() - cached.fetchedAt < REFRESH_INTERVAL_MS) return cached.info;
    if (cached?.pending) return cached.pending;
    const pending = this.fetch(baseUrl);
    this.cache.set(baseUrl, { info: cached?.info ?? { dpl: '', scripts: [] }, fetchedAt: cached?.fetchedAt ?? 0, pending });
    const info = await pending;
    this.cache.set(baseUrl, { info, fetchedAt: Date.now() });
    return info;
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
      return { dpl: '', scripts: [] };
    }
  }
}

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
  return { dpl, scripts: scripts.length > 0 ? scripts : [`${baseUrl}/backend-api/sentinel/sdk.js`] };
}
