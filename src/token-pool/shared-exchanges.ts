import { LRUCache } from 'lru-cache';
import type { Clock } from '../common/vocabulary/clock';
import { ACCESS_TOKEN_RENEW_MARGIN_MS } from './account-record';

const MAX_CACHED = 10_000;

/**
 * The one-at-a-time rule of every credential → AccessToken exchange (RefreshToken, SessionToken): a result is
 * kept until shortly before its AccessToken expires, and concurrent exchanges for one key share one request.
 */
export class SharedExchanges<T extends { expiresAt: number }> {
  /** Each result lives until its renewal margin; past `MAX_CACHED`, the least recently used goes. */
  private readonly cache: LRUCache<string, T>;
  private readonly inFlight = new Map<string, Promise<T>>();

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
}
