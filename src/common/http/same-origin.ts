import type { Request } from 'express';

/**
 * Whether a browser request comes from one of our own pages: its Origin (or, without it, its Referer) names
 * this site. This site is `PUBLIC_URL`'s host, or the host the request was sent to (its Host header, or the
 * X-Forwarded-Host of a proxy in TRUSTED_PROXIES, which `request.host` honours only from those), and with
 * ALLOWED_HOSTS set only one of those hosts. Hosts (with port) are compared, not schemes: behind a TLS proxy
 * that sends no `X-Forwarded-Proto` the request looks like http while the browser's Origin says https.
 * A request with neither header (not a browser's cross-site post) is `'unknown'`.
 */
export function requestSource(
  request: Request,
  site: { publicUrl?: string; allowedHosts: readonly string[] },
): 'same-origin' | 'cross-site' | 'unknown' {
  const origin = request.get('origin');
  const source = origin ?? request.get('referer');
  if (source === undefined) return 'unknown';
  return isOwnSiteUrl(request, site, source) ? 'same-origin' : 'cross-site';
}

/**
 * Whether the browser reached this request over https, so its cookies must be Secure: what `PUBLIC_URL` says when it is
 * set (TLS may end at a proxy that is not in TRUSTED_PROXIES, or sends no X-Forwarded-Proto), else the request's own
 * protocol as Express sees it (X-Forwarded-Proto is believed only from TRUSTED_PROXIES).
 */
export function reachedOverHttps(request: Request, site: { publicUrl?: string }): boolean {
  return site.publicUrl ? site.publicUrl.startsWith('https:') : request.secure;
}

/** Whether `url` is an absolute http(s) URL on this site, judged as `requestSource` judges an Origin. */
export function isOwnSiteUrl(request: Request, site: { publicUrl?: string; allowedHosts: readonly string[] }, url: string): boolean {
  const host = hostOf(url);
  if (!host) return false;
  if (site.publicUrl && host === new URL(site.publicUrl).host) return true;
  const allowed = site.allowedHosts.map((candidate) => candidate.toLowerCase());
  if (allowed.length > 0 && !allowed.includes(host)) return false;
  return [request.get('host'), request.host].some((own) => own?.toLowerCase() === host);
}

function hostOf(url: string): string | null {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.host : null;
  } catch {
    return null;
  }
}
