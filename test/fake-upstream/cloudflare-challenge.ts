import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';

export interface ChallengeOptions {
  /** Paths challenged (default: all). The home page `GET /`, which a browser opens to pass, is always challenged. */
  paths?: RegExp;
  /** Lifetime of a clearance, in seconds (default 1800). */
  ttlSec?: number;
  /** false: the page's script never sets the cookie (an interactive challenge no headless browser passes). */
  solvable?: boolean;
}

/** Why a request was challenged: it carried no clearance, or one that does not hold. */
export type Refusal = 'missing' | 'unknown' | 'expired' | 'wrong_user_agent' | 'forged';

/**
 * The proof the challenge script computes: a few rounds of FNV-1a over the nonce, the expiry and the browser's
 * `navigator.userAgent`. Kept as source so that the page runs exactly what the fake checks with.
 */
const PROOF_SOURCE = `function cfProof(nonce, exp, ua) {
  var h = 0x811c9dc5, s = nonce + '|' + exp + '|' + ua;
  for (var round = 0; round < 64; round++) {
    for (var i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
    h = (h ^ round) >>> 0;
  }
  return ('0000000' + h.toString(16)).slice(-8);
}`;
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- the very source the page runs, from the constant above
const cfProof = new Function(`${PROOF_SOURCE}; return cfProof;`)() as (nonce: string, exp: number, ua: string) => string;

const DEFAULT_TTL_SEC = 1800;

/**
 * Cloudflare in front of the fake: once told to `challenge()`, every matching request without a valid
 * `cf_clearance` gets the challenge page (403, `cf-mitigated: challenge`, `_cf_chl_opt`). The page's script sets the
 * cookie only when run by a browser: it hashes a nonce with `navigator.userAgent`, so a plain HTTP client cannot get
 * it without running the script, and a cookie replayed with another user agent is refused. The cookie carries its
 * expiry, checked against this fake's clock (`advanceClock` makes clearances expire without waiting).
 */
export class CloudflareChallenge {
  /** Challenge pages served. */
  pagesServed = 0;
  /** Requests let through with a valid clearance. */
  passed = 0;
  /** Why each challenged request was challenged, in order. */
  readonly refusals: Refusal[] = [];
  private options: Required<Omit<ChallengeOptions, 'paths'>> & { paths?: RegExp } = { ttlSec: DEFAULT_TTL_SEC, solvable: true };
  private active = false;
  private offsetMs = 0;
  private readonly issued = new Map<string, number>();
  private readonly cleared = new Set<string>();

  /** Challenges matching requests from now on, until a valid clearance is presented. */
  challenge(options: ChallengeOptions = {}): void {
    this.active = true;
    this.options = { ttlSec: options.ttlSec ?? DEFAULT_TTL_SEC, solvable: options.solvable ?? true, paths: options.paths };
  }

  /** Lets everything through again (issued clearances stay valid for a later `challenge()`). */
  stop(): void {
    this.active = false;
  }

  /** Moves this fake Cloudflare's clock, so that clearances expire. */
  advanceClock(ms: number): void {
    this.offsetMs += ms;
  }

  /** Distinct clearances presented so far: one per challenge a browser has passed. */
  get clearances(): number {
    return this.cleared.size;
  }

  reset(): void {
    this.active = false;
    this.offsetMs = 0;
    this.pagesServed = 0;
    this.passed = 0;
    this.refusals.length = 0;
    this.issued.clear();
    this.cleared.clear();
  }

  /** Answers the request with the challenge page when it must be challenged; false lets the fake handle it. */
  intercept(request: { method: string; path: string; headers: IncomingHttpHeaders }, res: ServerResponse): boolean {
    if (!this.active) return false;
    const home = request.method === 'GET' && request.path === '/';
    if (!home && this.options.paths && !this.options.paths.test(request.path)) return false;
    const refusal = this.check(request.headers);
    if (refusal === null) {
      this.passed++;
      return false;
    }
    this.refusals.push(refusal);
    this.serveChallenge(res, request.headers.host ?? 'chatgpt.com');
    return true;
  }

  /** The reason a request's clearance does not hold, or null when it does. */
  check(headers: IncomingHttpHeaders): Refusal | null {
    const value = readCookie(headers.cookie, 'cf_clearance');
    if (value === undefined) return 'missing';
    const [nonce, expText, proof] = value.split('.');
    const exp = Number(expText);
    if (this.issued.get(nonce) !== exp) return 'unknown';
    if (exp * 1000 <= this.now()) return 'expired';
    if (proof !== cfProof(nonce, exp, String(headers['user-agent'] ?? ''))) {
      // The proof of another user agent is a replay; anything else was made up.
      return /^[0-9a-f]{8}$/.test(proof ?? '') ? 'wrong_user_agent' : 'forged';
    }
    this.cleared.add(nonce);
    return null;
  }

  private now(): number {
    return Date.now() + this.offsetMs;
  }

  private serveChallenge(res: ServerResponse, host: string): void {
    this.pagesServed++;
    const nonce = randomBytes(12).toString('hex');
    const exp = Math.floor(this.now() / 1000) + this.options.ttlSec;
    this.issued.set(nonce, exp);
    const solve = this.options.solvable
      ? [
          PROOF_SOURCE,
          "var value = o.cNonce + '.' + o.cExp + '.' + cfProof(o.cNonce, o.cExp, navigator.userAgent);",
          "document.cookie = 'cf_clearance=' + value + '; max-age=' + o.cTtl + '; path=/';",
          'setTimeout(function () { location.reload(); }, 50);',
        ].join('\n')
      : '/* interactive: waits for a click that never comes */';
    const page = [
      '<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title></head><body>',
      `<div class="main-wrapper" role="main"><h1>${host.replace(/[^A-Za-z0-9.:-]/g, '')}</h1><p>Verifying you are human. This may take a few seconds.</p></div>`,
      '<script>(function () {',
      `window._cf_chl_opt = {cvId: '3', cType: '${this.options.solvable ? 'managed' : 'interactive'}', cNonce: '${nonce}', cExp: ${exp}, cTtl: ${this.options.ttlSec}};`,
      'var o = window._cf_chl_opt;',
      solve,
      '}());</script></body></html>',
    ].join('\n');
    res.writeHead(403, {
      'content-type': 'text/html; charset=UTF-8',
      'cf-mitigated': 'challenge',
      'cache-control': 'private, max-age=0, no-store, no-cache, must-revalidate',
      'set-cookie': `__cf_bm=${randomBytes(24).toString('base64url')}; Path=/; Max-Age=1800; HttpOnly`,
      'content-length': Buffer.byteLength(page),
    });
    res.end(page);
  }
}

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}
