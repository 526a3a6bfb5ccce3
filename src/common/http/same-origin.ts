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
 * Whether the browser reached this request over https, so its cookies must be Secure (a browser drops a Secure cookie
 * sent over plain http, and the sign-in it carries with it). In order:
 * - the request's own protocol as Express sees it, when that is https (X-Forwarded-Proto is believed only from
 *   TRUSTED_PROXIES);
 * - else the scheme of the page of this site that sent it (its Origin, or Referer: a form post, a link on our pages);
 * - else `PUBLIC_URL`'s, for a request made to `PUBLIC_URL`'s host: TLS may end at a proxy that is not in
 *   TRUSTED_PROXIES, or sends no X-Forwarded-Proto. A request made to another host (a LAN address, localhost) did not
 *   come through `PUBLIC_URL`: it is what it looks like, plain http.
 */
export function reachedOverHttps(request: Request, site: { publicUrl?: string; allowedHosts: readonly string[] }): boolean {
  if (request.secure) return true;
  const source = request.get('origin') ?? request.get('referer');
  if (source !== undefined && isOwnSiteUrl(request, site, source)) return new URL(source).protocol === 'https:';
  if (!site.publicUrl?.startsWith('https:')) return false;
  const publicHost = new URL(site.publicUrl).host;
  return [request.get('host'), request.host].some((own) => own?.toLowerCase() === publicHost);
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
