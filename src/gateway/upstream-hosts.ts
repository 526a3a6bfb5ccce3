import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { TextRewriter } from './rewriting/text-rewriter';

/**
 * Which upstream host a gateway path goes to, and how upstream host names in bodies map back onto our origin.
 * Routing is by exact path prefix (gateway.md §5.3 "Ours"); every host comes from configuration so tests point
 * them at fakes. Only the backend host ever receives the account's credentials.
 */
export type UpstreamHostKind = 'backend' | 'cdn' | 'files' | 'statsig' | 'sandbox' | 'gravatar' | 'persistent';

/** The production hosts the web app names in its pages and bundles, besides the configured ones. */
const PRODUCTION = {
  backend: 'https://chatgpt.com',
  cdn: 'https://cdn.oaistatic.com',
  files: 'https://files.oaiusercontent.com',
  statsig: 'https://ab.chatgpt.com',
  sandbox: 'https://web-sandbox.oaiusercontent.com',
  gravatar: 'https://s.gravatar.com',
  persistent: 'https://persistent.oaistatic.com',
} as const;

/** Paths of the backend host that the app calls through us; a bare `https://chatgpt.com` (OAuth callbacks) stays. */
const BACKEND_ROOTS = ['backend-api/', 'backend-anon/', 'public-api/', 'api/auth', 'ces/', 'cdn/', 'sentinel/'];

/** Datadog RUM and log intake: pointed nowhere, so nothing about users goes to a third party. */
const TELEMETRY_HOSTS = [
  'browser-intake-datadoghq.com',
  'browser-intake-us5-datadoghq.com',
  'datadoghq.com',
  'ddog-gov.com',
  'dd0g-gov.com',
  'datad0g.com',
];

/** Where the public origin's URLs are, as the browser sees them. */
export interface PublicOrigin {
  /** e.g. `https://gw.example.com` */
  origin: string;
  scheme: 'http' | 'https';
  host: string;
  /** Taken from the request (its Host, or a trusted proxy's forwarded host), not from `PUBLIC_URL`. */
  fromRequest: boolean;
}

@Injectable()
export class UpstreamHosts {
  constructor(private readonly config: AppConfig) {}

  /** One of the configured backend hosts (`CHATGPT_BASE_URL`), at random. */
  backendBase(): string {
    const urls = this.config.chatgptBaseUrl;
    return stripSlash(urls[Math.floor(Math.random() * urls.length)]);
  }

  base(kind: UpstreamHostKind): string {
    switch (kind) {
      case 'backend':
        return this.backendBase();
      case 'cdn':
        return stripSlash(this.config.cdnBaseUrl);
      case 'files':
        return stripSlash(this.config.filesBaseUrl);
      case 'statsig':
        return stripSlash(this.config.statsigBaseUrl);
      case 'sandbox':
        return stripSlash(this.config.sandboxBaseUrl ?? PRODUCTION.sandbox);
      case 'gravatar':
        return stripSlash(this.config.gravatarBaseUrl);
      case 'persistent':
        return stripSlash(this.config.persistentBaseUrl);
    }
  }

  /** Upstream URLs in pages, bundles and JSON, mapped onto our origin (and the operator's separate hosts). */
  hostRewriter(publicOrigin: PublicOrigin): TextRewriter {
    const { origin, scheme } = publicOrigin;
    const pairs: Array<[string, string]> = [];
    const backends = [...this.config.chatgptBaseUrl.map(stripSlash), PRODUCTION.backend];
    for (const base of backends) for (const root of BACKEND_ROOTS) pairs.push([`${base}/${root}`, `${origin}/${root}`]);
    for (const base of [this.base('cdn'), PRODUCTION.cdn]) pairs.push([base, origin]);
    const files = this.config.fileHost ? `${scheme}://${this.config.fileHost}` : origin;
    for (const base of [this.base('files'), PRODUCTION.files]) pairs.push([base, files]);
    for (const base of [this.base('statsig'), PRODUCTION.statsig]) pairs.push([base, `${origin}/ab`]);
    const sandbox = this.config.sandboxHost ? `${scheme}://${this.config.sandboxHost}` : `${origin}/sandbox`;
    for (const base of [this.base('sandbox'), PRODUCTION.sandbox]) pairs.push([base, sandbox]);
    for (const base of [this.base('gravatar'), PRODUCTION.gravatar]) pairs.push([base, origin]);
    // Voice previews keep their `/voice/previews/` path, which routes them back to this host (gateway.md §5.7 row 10).
    for (const base of [this.base('persistent'), PRODUCTION.persistent]) pairs.push([base, origin]);
    // Advanced voice (WebRTC) goes to the operator's relay when there is one, else straight to the upstream (row 8).
    if (this.config.voiceHost) pairs.push(['webrtc.chatgpt.com', this.config.voiceHost]);
    for (const host of TELEMETRY_HOSTS) pairs.push([host, '0.0.0.0']);
    // A configured host that is the backend itself must not swallow the backend's other paths.
    const backendSet = new Set(backends);
    return new TextRewriter(pairs.filter(([from, to]) => !(backendSet.has(from) && to === origin)));
  }
}

function stripSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
