/** The cookie Cloudflare sets once its challenge is passed; the others ride along with it. */
export const CLEARANCE_COOKIE = 'cf_clearance';
export const CLEARANCE_COOKIE_NAMES: readonly string[] = [CLEARANCE_COOKIE, '__cf_bm'];

/**
 * A clearance is valid only for the route that earned it: Cloudflare binds `cf_clearance` to the client's address
 * (the proxy) and user agent, and scopes it to the host.
 */
export interface ClearanceRoute {
  /** `scheme://host[:port]` of the challenged request. */
  origin: string;
  proxyUrl?: string;
  userAgent: string;
}

export interface ClearanceCookie {
  name: string;
  value: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

/** A clearance this close to its expiry is not sent: the request using it could outlive it. */
export const EXPIRY_MARGIN_MS = 30_000;

export function clearanceKey(route: ClearanceRoute): string {
  return JSON.stringify([route.proxyUrl ?? '', new URL(route.origin).host.toLowerCase(), route.userAgent]);
}

/**
 * The clearance cookies earned per route (proxy + host + user agent), each kept until the expiry its cookie gave.
 * Small by nature (routes are proxies × hosts × user agents), so a map pruned on every store is enough.
 */
export class ClearanceJar {
  private readonly entries = new Map<string, ClearanceCookie[]>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The `Cookie` header value to send on this route, or undefined when it holds no live clearance. */
  cookieHeader(route: ClearanceRoute): string | undefined {
    const key = clearanceKey(route);
    const cookies = this.entries.get(key);
    if (!cookies) return undefined;
    const now = this.now();
    if (!isLive(cookies, now)) {
      this.entries.delete(key);
      return undefined;
    }
    return cookies
      .filter((cookie) => cookie.expiresAt > now)
      .map((cookie) => `${cookie.name}=${cookie.value}`)
      .join('; ');
  }

  /** Keeps the cookies a solve earned for this route, replacing what it held; refused without a live `cf_clearance`. */
  store(route: ClearanceRoute, cookies: readonly ClearanceCookie[]): void {
    const now = this.now();
    const kept = cookies.filter((cookie) => CLEARANCE_COOKIE_NAMES.includes(cookie.name));
    if (!isLive(kept, now)) throw new Error(`no ${CLEARANCE_COOKIE} cookie that outlives the next ${EXPIRY_MARGIN_MS / 1000} s`);
    for (const [key, held] of this.entries) if (!isLive(held, now)) this.entries.delete(key);
    this.entries.set(clearanceKey(route), kept);
  }

  /**
   * Forgets the clearance the upstream has just refused (sent as `refusedHeader`), unless a newer one has replaced
   * it meanwhile: concurrent refusals of the same stale cookie then share the fresh one instead of solving again.
   */
  discard(route: ClearanceRoute, refusedHeader: string | undefined): void {
    if (refusedHeader !== undefined && this.cookieHeader(route) === refusedHeader) this.entries.delete(clearanceKey(route));
  }

  get size(): number {
    return this.entries.size;
  }
}

function isLive(cookies: readonly ClearanceCookie[], now: number): boolean {
  const clearance = cookies.find((cookie) => cookie.name === CLEARANCE_COOKIE);
  return clearance !== undefined && clearance.expiresAt - EXPIRY_MARGIN_MS > now;
}
