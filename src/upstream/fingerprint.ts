import { createHash } from 'node:crypto';

/** How one account looks to the upstream: always the same browser on the same route (upstream-protocol.md §2). */
export interface BrowserFingerprint {
  userAgent: string;
  deviceId: string;
  proxyUrl?: string;
  clientHints?: { secChUa: string; secChUaMobile: string; secChUaPlatform: string };
}

export const DEFAULT_USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
];

/**
 * Derives the fingerprint from a hash of the account key, so it is stable across requests and restarts
 * without storing anything, and changes only when the configured agent or proxy lists change.
 */
export function fingerprintFor(accountKey: string, userAgents: readonly string[], proxyUrls: readonly string[]): BrowserFingerprint {
  const digest = createHash('sha256').update('flowgpt-fingerprint:').update(accountKey).digest();
  const agents = userAgents.length > 0 ? userAgents : DEFAULT_USER_AGENTS;
  const userAgent = agents[digest.readUInt32BE(0) % agents.length];
  const proxyUrl = proxyUrls.length > 0 ? proxyUrls[digest.readUInt32BE(4) % proxyUrls.length] : undefined;
  return { userAgent, deviceId: uuidFromBytes(digest.subarray(8, 24)), proxyUrl, clientHints: clientHintsFor(userAgent) };
}

function uuidFromBytes(bytes: Buffer): string {
  const b = Buffer.from(bytes);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** `sec-ch-ua*` headers, which only desktop Chromium browsers send. */
function clientHintsFor(userAgent: string): BrowserFingerprint['clientHints'] {
  const chrome = /Chrome\/(\d+)/.exec(userAgent);
  if (!chrome || /Mobile|Android/.test(userAgent)) return undefined;
  const version = chrome[1];
  const brand = /Edg\//.test(userAgent) ? 'Microsoft Edge' : 'Google Chrome';
  const platform = userAgent.includes('Windows') ? 'Windows' : userAgent.includes('Mac OS') ? 'macOS' : 'Linux';
  return {
    secChUa: `"${brand}";v="${version}", "Chromium";v="${version}", "Not_A Brand";v="24"`,
    secChUaMobile: '?0',
    secChUaPlatform: `"${platform}"`,
  };
}
