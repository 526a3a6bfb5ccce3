import type { IncomingHttpHeaders } from 'node:http';
import { OFFERED_CODINGS } from '../rewriting/content-encoding';
import type { TextRewriter } from '../rewriting/text-rewriter';
import type { UpstreamHostKind } from '../upstream-hosts';

/**
 * The only browser headers that go upstream (gateway.md §5.4, widened with what the 2026 app sends,
 * gateway-live-ui.md §4). Never the browser's cookies, `Authorization` (the account's token is attached
 * server-side), device id, user agent or client hints (the account's fingerprint sets those), nor hop-by-hop headers.
 */
const FORWARDED = new Set([
  'accept',
  'accept-language',
  'content-type',
  'content-length',
  'transfer-encoding',
  'range',
  'if-range',
  'if-none-match',
  'if-modified-since',
  'oai-echo-logs',
  'oai-language',
  'oai-client-version',
  'oai-client-build-number',
  'oai-telemetry',
  'x-conduit-token',
  'x-oai-turn-trace-id',
  'x-openai-target-path',
  'x-openai-target-route',
  'x-ms-blob-type',
  'x-ms-version',
  'x-ms-blob-content-type',
]);
const FORWARDED_PREFIXES = ['openai-sentinel-'];

/** The web app's own statement of the route it calls (gateway-live-ui.md §4): the browser's word, not a checked one. */
const TARGET_PATH = 'x-openai-target-path';
const TARGET_ROUTE = 'x-openai-target-route';

/**
 * `seedTarget`, for a seed: the path its rules checked (as sent upstream, without the query), or null where none was
 * checked. The target headers then name that path or go: a server that routes by them must not be sent by a seed's
 * browser elsewhere than its rules looked. The route passes only as the path itself (the web app's conversation post);
 * a template (`…/conversation/{conversation_id}`) or anything else the browser wrote is dropped.
 */
export function forwardedRequestHeaders(
  headers: IncomingHttpHeaders,
  without: string[] = [],
  seedTarget?: string | null,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || without.includes(name)) continue;
    if (!FORWARDED.has(name) && !FORWARDED_PREFIXES.some((prefix) => name.startsWith(prefix))) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  if (seedTarget !== undefined) {
    const named = out[TARGET_PATH] !== undefined || out[TARGET_ROUTE] !== undefined;
    const route = out[TARGET_ROUTE];
    delete out[TARGET_PATH];
    delete out[TARGET_ROUTE];
    if (seedTarget && named) out[TARGET_PATH] = seedTarget;
    if (seedTarget && route === seedTarget) out[TARGET_ROUTE] = seedTarget;
  }
  if (out['transfer-encoding'] && out['transfer-encoding'].toLowerCase() !== 'chunked') delete out['transfer-encoding'];
  // A range is of the stored bytes: ask for them unencoded. Otherwise only codings the browser itself accepts,
  // since an answer we do not rewrite reaches it as the upstream encoded it, and that we can decode, since an
  // answer we rewrite must be decoded first.
  const accepted = String(headers['accept-encoding'] ?? '')
    .split(',')
    .map((part) => part.split(';')[0].trim().toLowerCase())
    .filter((coding) => OFFERED_CODINGS.includes(coding));
  // An event stream is asked for unencoded too: it may have to be rewritten as it passes (a seed's), which a
  // compressed one cannot be until its end.
  const eventStream = /text\/event-stream/i.test(out.accept ?? '');
  out['accept-encoding'] = out.range || eventStream || accepted.length === 0 ? 'identity' : accepted.join(', ');
  return out;
}

/** The web app's device ids are UUIDs; anything else a browser sends there is not one. */
const DEVICE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * What a call on the anonymous channel (the backend host without a session: ENABLE_HOMEPAGE visitors) adds: the
 * browser's own `oai-device-id`, its device and no account's secret, so that visitors are not all one device upstream
 * (the anonymous fingerprint's id stands in when the browser sends none), and the `origin` and `referer` of the
 * upstream's own site, as the web app sends them. Signed-in calls get all three from the account's identity instead.
 */
export function anonymousChannelHeaders(browser: IncomingHttpHeaders, baseUrl: string, fallbackDeviceId: string): Record<string, string> {
  const deviceId = browser['oai-device-id'];
  return {
    'oai-device-id': typeof deviceId === 'string' && DEVICE_ID.test(deviceId) ? deviceId : fallbackDeviceId,
    origin: baseUrl,
    referer: `${baseUrl}/`,
  };
}

/** Upstream headers that never reach the browser: hop-by-hop, cookies, and policies that name the upstream's origin. */
const DROPPED = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'set-cookie',
  'strict-transport-security',
  'alt-svc',
  'report-to',
  'nel',
  'content-security-policy-report-only',
  'reporting-endpoints',
  'server-timing',
  'cf-ray',
  'cf-cache-status',
  'server',
]);
const INLINE_MEDIA = /^(image\/(?!svg)|audio\/|video\/)/i;

/**
 * What sandbox output may do: run its scripts, forms, dialogs, pop-ups and downloads, always as an opaque origin
 * (never `allow-same-origin`, never top navigation), so that served from ours it can read nothing of ours (S6).
 */
const SANDBOX_POLICY = 'sandbox allow-scripts allow-forms allow-modals allow-popups allow-downloads';

/**
 * The headers of a proxied answer; `null` removes one our own defaults (helmet) set.
 * `secrets`: the account's secrets as this session may see them (`accountSecretsRewriter`), applied to every value
 * forwarded, since any header may name them (a redirect's `Location` with a `login_hint`, an `x-` header of the upstream's).
 * `chatPageOrigins`: besides our own origin, where the chat page that frames sandbox output may be.
 */
export function responseHeadersFor(
  upstream: IncomingHttpHeaders,
  options: {
    host: UpstreamHostKind;
    rewritten: boolean;
    hostRewriter: TextRewriter;
    secrets: TextRewriter;
    chatPageOrigins?: readonly string[];
  },
): Record<string, string | string[] | null> {
  const out: Record<string, string | string[] | null> = {};
  const withoutSecrets = (value: string) => options.secrets.apply(value).text;
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || DROPPED.has(name)) continue;
    if (options.rewritten && (name === 'content-length' || name === 'content-encoding' || name === 'etag')) continue;
    out[name] = Array.isArray(value) ? value.map(withoutSecrets) : withoutSecrets(value);
  }
  for (const name of ['location', 'content-location', 'content-security-policy', 'link']) {
    const value = out[name];
    if (typeof value === 'string') out[name] = options.hostRewriter.apply(value).text;
  }
  const contentType = String(upstream['content-type'] ?? '');
  const disposition = out['content-disposition'];
  if (typeof disposition === 'string' && INLINE_MEDIA.test(contentType)) {
    // Pictures, sound and video display in the page; anything else that could run stays a download.
    out['content-disposition'] = disposition.replace(/^\s*attachment/i, 'inline');
  }
  if (options.host === 'files' || options.host === 'sandbox') {
    // User files and sandbox output are untrusted: whatever they are, they cannot run as our origin (S6).
    out['x-content-type-options'] = 'nosniff';
    // Both are embedded by the chat page, from another origin when FILE_HOST / SANDBOX_HOST is set, and sandbox
    // pages, opaque origins, load their own scripts and pictures: helmet's `same-origin` would refuse every one.
    out['cross-origin-resource-policy'] = 'cross-origin';
  }
  if (options.host === 'files') out['content-security-policy'] = 'sandbox';
  if (options.host === 'sandbox') {
    // Shown in a frame of the chat page, and of no other site's page: frame-ancestors instead of helmet's DENY.
    const ancestors = ["'self'", ...(options.chatPageOrigins ?? [])].join(' ');
    out['content-security-policy'] = `${SANDBOX_POLICY}; frame-ancestors ${ancestors}`;
    out['x-frame-options'] = null;
  }
  return out;
}
