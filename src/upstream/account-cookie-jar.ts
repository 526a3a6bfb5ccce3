import { LRUCache } from 'lru-cache';
import { parseSetCookie } from 'set-cookie-parser';
import { isHeaderSafe } from '../common/util/header-value';
import { CLEARANCE_COOKIE } from './clearance-jar';

/** Accounts × upstream origins held at once; the least recently used jar goes first. */
const MAX_JARS = 10_000;
/** Per jar, about what a browser keeps per host; past it the oldest cookie makes room. */
const MAX_COOKIES = 50;
/** A browser's limit for one cookie, name and value together. */
const MAX_COOKIE_BYTES = 4096;

interface Jar {
  /** Name → value and expiry (epoch milliseconds; Infinity for a cookie that lives as long as the process). */
  cookies: Map<string, { value: string; expiresAt: number }>;
  /** The `Cookie` header, built when the jar changes rather than on every request. */
  header: string | undefined;
  /** When the first cookie in the jar expires, and the header must be built again. */
  nextExpiry: number;
}

/**
 * The cookies the upstream sets on an account's calls (`oai-did`, `__cf_bm`, `__cflb`, `_cfuvid`, `__oailb`, `oai-sc`:
 * gateway-live-ui.md §4.6), kept per account and origin and sent back on the account's later calls there, as its
 * browser would (upstream-protocol.md §2.3). In memory only. Each origin is one host, so a cookie's Path, Domain and
 * Secure are not read: the upstream's are all for its whole host. Max-Age and Expires are, a past one deleting the cookie.
 */
export class AccountCookieJar {
  private readonly jars = new LRUCache<string, Jar>({ max: MAX_JARS });

  constructor(private readonly now: () => number = Date.now) {}

  /** The `Cookie` header value to send as this account to this origin, or undefined when it has no live cookie there. */
  cookieHeader(account: string, origin: string): string | undefined {
    const key = jarKey(account, origin);
    const jar = this.jars.get(key);
    if (!jar) return undefined;
    return jar.nextExpiry <= this.now() ? this.rebuild(key, jar) : jar.header;
  }

  /** Keeps what a response's `Set-Cookie` lines set, replaced or deleted by name. */
  store(account: string, origin: string, setCookie: readonly string[]): void {
    const key = jarKey(account, origin);
    const jar = this.jars.get(key) ?? { cookies: new Map(), header: undefined, nextExpiry: Infinity };
    const now = this.now();
    for (const cookie of parseSetCookie(setCookie, { decodeValues: false, silent: true })) {
      const { name, value } = cookie;
      if (!isHeaderSafe(name) || (value !== '' && !isHeaderSafe(value)) || name.length + value.length > MAX_COOKIE_BYTES) continue;
      // Max-Age wins over Expires (RFC 6265 §5.3); zero or negative, or a past date, deletes the cookie. One that is
      // not a number is ignored, as the RFC says (NaN would make the cookie outlive every expiry check).
      const maxAge = Number.isFinite(cookie.maxAge) ? cookie.maxAge : undefined;
      const expires = cookie.expires?.getTime();
      const expiresAt = maxAge !== undefined ? now + maxAge * 1000 : expires !== undefined && Number.isFinite(expires) ? expires : Infinity;
      jar.cookies.delete(name);
      if (expiresAt <= now) continue;
      if (jar.cookies.size >= MAX_COOKIES) jar.cookies.delete(oldestName(jar));
      jar.cookies.set(name, { value, expiresAt });
    }
    this.rebuild(key, jar);
  }

  /** Drops the expired cookies and builds the header again, which it returns; a jar left empty is dropped. */
  private rebuild(key: string, jar: Jar): string | undefined {
    const now = this.now();
    let nextExpiry = Infinity;
    const pairs: string[] = [];
    for (const [name, { value, expiresAt }] of jar.cookies) {
      if (expiresAt <= now) {
        jar.cookies.delete(name);
        continue;
      }
      nextExpiry = Math.min(nextExpiry, expiresAt);
      pairs.push(`${name}=${value}`);
    }
    if (pairs.length === 0) {
      this.jars.delete(key);
      return undefined;
    }
    jar.header = pairs.join('; ');
    jar.nextExpiry = nextExpiry;
    this.jars.set(key, jar);
    return jar.header;
  }
}

/** Map keys iterate in insertion order, and a cookie set again is inserted again: the first is the least recently set. */
function oldestName(jar: Jar): string {
  for (const name of jar.cookies.keys()) return name;
  return '';
}

function jarKey(account: string, origin: string): string {
  return `${account}\n${origin}`;
}

/**
 * One `Cookie` header from a route's Cloudflare clearance and the account's own cookies, each name once:
 * `cf_clearance` is the clearance's, any other name the account's (set on its own calls since, so the fresher).
 */
export function mergeCookieHeaders(clearance: string | undefined, account: string | undefined): string | undefined {
  if (!clearance || !account) return clearance || account;
  const accountPairs = account.split('; ').filter((pair) => nameOf(pair) !== CLEARANCE_COOKIE);
  const accountNames = new Set(accountPairs.map(nameOf));
  const clearancePairs = clearance.split('; ').filter((pair) => nameOf(pair) === CLEARANCE_COOKIE || !accountNames.has(nameOf(pair)));
  return [...clearancePairs, ...accountPairs].join('; ');
}

function nameOf(pair: string): string {
  return pair.slice(0, pair.indexOf('='));
}
