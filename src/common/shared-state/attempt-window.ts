import { LRUCache } from 'lru-cache';
import type { RedisConnection } from './redis-connection';

export interface AttemptLimits {
  /** Attempts allowed within `windowMs`. */
  max: number;
  windowMs: number;
}

/**
 * Counts attempts per key (a client network) in a sliding window: once `max` fall within `windowMs`,
 * the key must wait until the oldest counted one leaves the window. `now` comes from the caller's clock.
 * In memory for one instance; in Redis (`REDIS_URL`) so that several instances count together.
 */
export interface AttemptWindow {
  /** Seconds the key must still wait; 0 when it may try. */
  retryAfterSec(key: string, now: number): Promise<number>;
  /** Counts one attempt, whether or not the key was allowed to make it. */
  record(key: string, now: number): Promise<void>;
  /**
   * Counts one attempt only if the key may try now, in one step (two instances cannot both take the last
   * free slot). Resolves to 0 when it was counted, else to the seconds to wait (and nothing is counted).
   */
  tryRecord(key: string, now: number): Promise<number>;
  reset(key: string): Promise<void>;
}

function secondsUntil(freeAt: number, now: number): number {
  return Math.max(1, Math.ceil((freeAt - now) / 1000));
}

/** One process's window; memory is bounded by `maxKeys` (the least recently counted key goes first). */
export class MemoryAttemptWindow implements AttemptWindow {
  private readonly attempts: LRUCache<string, number[]>;

  constructor(private readonly limits: AttemptLimits & { maxKeys: number }) {
    this.attempts = new LRUCache({ max: limits.maxKeys });
  }

  retryAfterSec(key: string, now: number): Promise<number> {
    return Promise.resolve(this.wait(this.recent(key, now), now));
  }

  record(key: string, now: number): Promise<void> {
    this.push(key, this.recent(key, now), now);
    return Promise.resolve();
  }

  tryRecord(key: string, now: number): Promise<number> {
    const recent = this.recent(key, now);
    const wait = this.wait(recent, now);
    if (wait === 0) this.push(key, recent, now);
    return Promise.resolve(wait);
  }

  reset(key: string): Promise<void> {
    this.attempts.delete(key);
    return Promise.resolve();
  }

  private wait(recent: number[], now: number): number {
    if (recent.length < this.limits.max) return 0;
    return secondsUntil(recent[recent.length - this.limits.max] + this.limits.windowMs, now);
  }

  private push(key: string, recent: number[], now: number): void {
    recent.push(now);
    this.attempts.set(key, recent);
  }

  private recent(key: string, now: number): number[] {
    // `peek`: only counting an attempt makes a key recent.
    const recent = (this.attempts.peek(key) ?? []).filter((at) => at > now - this.limits.windowMs);
    if (recent.length === 0) this.attempts.delete(key);
    return recent;
  }
}

/**
 * One sorted set per key, scored by attempt time, expiring with the window. ARGV: now, windowMs, max,
 * mode ('check' | 'record' | 'try'), a unique member. Returns when the key may try again (ms since the
 * epoch), or 0 when it may try now; 'record' always counts, 'try' only when it returns 0.
 */
const ATTEMPT_WINDOW = `
local now, window, max, mode = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local freeAt = 0
if count >= max then
  local oldest = redis.call('ZRANGE', KEYS[1], count - max, count - max, 'WITHSCORES')
  freeAt = tonumber(oldest[2]) + window
end
if mode == 'record' or (mode == 'try' and freeAt == 0) then
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], window)
end
return freeAt`;

/** Shared by every instance on one Redis. */
export class RedisAttemptWindow implements AttemptWindow {
  private sequence = 0;

  constructor(
    private readonly connection: RedisConnection,
    /** Key prefix of this window, e.g. `flowgpt:attempts:admin-login:`. */
    private readonly prefix: string,
    private readonly limits: AttemptLimits,
  ) {}

  async retryAfterSec(key: string, now: number): Promise<number> {
    return this.call(key, now, 'check');
  }

  async record(key: string, now: number): Promise<void> {
    await this.call(key, now, 'record');
  }

  tryRecord(key: string, now: number): Promise<number> {
    return this.call(key, now, 'try');
  }

  async reset(key: string): Promise<void> {
    await this.connection.run((redis) => redis.del(this.prefix + key));
  }

  private async call(key: string, now: number, mode: 'check' | 'record' | 'try'): Promise<number> {
    // Unique per attempt, so that two attempts in the same millisecond count twice.
    const member = `${now}:${process.pid}:${++this.sequence}:${Math.random().toString(36).slice(2, 8)}`;
    const freeAt = (await this.connection.run((redis) =>
      redis.eval(ATTEMPT_WINDOW, 1, this.prefix + key, now, this.limits.windowMs, this.limits.max, mode, member),
    )) as number;
    return freeAt === 0 ? 0 : secondsUntil(freeAt, now);
  }
}
