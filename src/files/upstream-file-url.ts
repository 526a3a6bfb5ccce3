/**
 * Whether a download URL the upstream handed out may be fetched by the server: http(s) on one of the
 * upstream's own hosts (`CHATGPT_BASE_URL`, `FILES_BASE_URL`) or on OpenAI's file storage
 * (`*.oaiusercontent.com`). Anything else is refused, so a link can never make us fetch an arbitrary address.
 */
export function isUpstreamFileUrl(candidate: string, upstreamBaseUrls: readonly string[]): boolean {
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    return false;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return false;
  if (url.username || url.password) return false;
  if (upstreamBaseUrls.some((base) => sameOrigin(base, url))) return true;
  return url.protocol === 'https:' && /(^|\.)oaiusercontent\.com$/.test(url.hostname.toLowerCase());
}

function sameOrigin(base: string, url: URL): boolean {
  try {
    return new URL(base).origin === url.origin;
  } catch {
    return false;
  }
}
