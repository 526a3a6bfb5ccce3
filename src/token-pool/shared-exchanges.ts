import { LRUCache } from 'lru-cache';
import type { Clock } from '../common/vocabulary/clock';
import { ACCESS_TOKEN_RENEW_MARGIN_MS, REFRESH_BACKOFF_MS } from './account-record';

const MAX_CACHED = 10_000;

/** Refusals in a row of the AccessTokens one credential was exchanged for, and when another may drop the cache. */
interface Refusals {
  inARow: number;
  nextDropAt: number;
}

/**
 * The one-at-a-time rule of every credential → AccessToken exchange (RefreshToken, SessionToken): a result is
 * kept until shortly before its AccessToken expires (or the upstream refuses it), and concurrent exchanges for one
 * key share one request.
 */
export class SharedExchanges<T extends { accessToken: string; expiresAt: number }> {
  /** Each result lives until its renewal margin; past `MAX_CACHED`, the least recently used goes. */
  private readonly cache: LRUCache<string, T>;
  private readonly inFlight = new Map<string, Promise<T>>();
  private readonly refusals = new LRUCache<string, Refusals>({ max: MAX_CACHED });

  constructor(private readonly clock: Clock) {
    this.cache = new LRUCache({ max: MAX_CACHED, perf: clock, ttlResolution: 0 });
  }

  /**
   * The cached result for `key`, else the exchange already under way for it, else a new one from `run`.
   * `force` skips the cache (the cached AccessToken was refused upstream) but still joins an exchange under way.
   * Every caller gets its own copy.
   */
  get(key: string, force: boolean, run: () => Promise<T>): Promise<T> {
    const cached = force ? undefined : this.cache.get(key);
    if (cached) return Promise.resolve({ ...cached });
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = run().finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending.then((result) => ({ ...result }));
  }

  remember(key: string, result: T): void {
    // lru-cache reads a ttl of 0 as "forever": an AccessToken already due for renewal is not kept at all.
    const ttl = result.expiresAt - ACCESS_TOKEN_RENEW_MARGIN_MS - this.clock.now();
    if (ttl > 0) this.cache.set(key, result, { ttl });
    else this.cache.delete(key);
  }

  forget(key: string): void {
    this.cache.delete(key);
  }

  /**
   * The upstream refused (401) `accessToken`, which an exchange of `holder`'s credential gave and which may be cached
   * under `keys` (its values before and after a rotation): the next exchange asks afresh. A refusal of one replaced
   * since changes nothing; refusals in a row of fresh ones drop the cache only 1 min → 5 min → 30 min apart, so a
   * credential whose every AccessToken is refused does not cost an exchange per request. True when dropped.
   */
  refused(holder: string, keys: readonly string[], accessToken: string): boolean {
    const cachedUnder = keys.filter((key) => this.cache.get(key)?.accessToken === accessToken);
    if (cachedUnder.length === 0) return false;
    const now = this.clock.now();
    const last = this.refusals.get(holder);
    if (last && last.nextDropAt > now) return false;
    const inARow = (last?.inARow ?? 0) + 1;
    this.refusals.set(holder, { inARow, nextDropAt: now + REFRESH_BACKOFF_MS[Math.min(inARow, REFRESH_BACKOFF_MS.length) - 1] });
    for (const key of cachedUnder) this.cache.delete(key);
    return true;
  }

  /** The upstream took an AccessToken of `holder`'s: refusals no longer count as in a row. */
  accepted(holder: string): void {
    this.refusals.delete(holder);
  }
}
