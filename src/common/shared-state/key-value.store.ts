import { LRUCache } from 'lru-cache';
import type { RedisConnection } from './redis-connection';

/**
 * Small string values with an optional time to live (admin sessions, model caps). In memory for one
 * instance; in Redis (`REDIS_URL`) so that every instance sees the same values.
 */
export interface KeyValueStore {
  get(key: string, now: number): Promise<string | null>;
  /** `ttlMs` undefined keeps the value until it is deleted. */
  set(key: string, value: string, now: number, ttlMs?: number): Promise<void>;
  /** Stores `value` unless the key already holds one; resolves to the value the key holds afterwards. */
  setIfAbsent(key: string, value: string): Promise<string>;
  /**
   * Replaces the value only while the key still holds one (not deleted, not expired), in one step: a writer holding an
   * old copy cannot bring back what another deleted meanwhile. Resolves to whether it replaced the value.
   */
  setIfPresent(key: string, value: string, now: number, ttlMs?: number): Promise<boolean>;
  /**
   * Replaces the value only while the key still holds `expected`, in one step: a writer that judged an old copy cannot
   * overwrite what another wrote since. Resolves to whether it replaced the value.
   */
  replaceIf(key: string, expected: string, value: string, now: number, ttlMs?: number): Promise<boolean>;
  /**
   * Reads the value and deletes it in one step: of callers taking one key at once, on any instance, one gets the value
   * and the others null (a one-use ticket is redeemed once).
   */
  take(key: string, now: number): Promise<string | null>;
  delete(key: string): Promise<void>;
}

/** Bounded by `maxEntries`: past it, the least recently used value goes. */
export class MemoryKeyValueStore implements KeyValueStore {
  private readonly entries: LRUCache<string, string>;
  /** The `now` of the call being served: lru-cache measures time to live on the callers' clock. */
  private now = 0;

  constructor(maxEntries: number) {
    this.entries = new LRUCache({ max: maxEntries, perf: { now: () => this.now }, ttlResolution: 0 });
  }

  get(key: string, now: number): Promise<string | null> {
    this.now = now;
    return Promise.resolve(this.entries.get(key) ?? null);
  }

  set(key: string, value: string, now: number, ttlMs?: number): Promise<void> {
    this.now = now;
    // A ttl of 0 is "forever" to lru-cache; a value that has already expired is simply not kept.
    if (ttlMs !== undefined && ttlMs <= 0) this.entries.delete(key);
    else this.entries.set(key, value, { ttl: ttlMs ?? 0 });
    return Promise.resolve();
  }

  setIfAbsent(key: string, value: string): Promise<string> {
    const current = this.entries.get(key);
    if (current !== undefined) return Promise.resolve(current);
    this.entries.set(key, value, { ttl: 0 });
    return Promise.resolve(value);
  }

  async setIfPresent(key: string, value: string, now: number, ttlMs?: number): Promise<boolean> {
    this.now = now;
    if (!this.entries.has(key)) return false;
    await this.set(key, value, now, ttlMs);
    return true;
  }

  async replaceIf(key: string, expected: string, value: string, now: number, ttlMs?: number): Promise<boolean> {
    this.now = now;
    if (this.entries.get(key) !== expected) return false;
    await this.set(key, value, now, ttlMs);
    return true;
  }

  take(key: string, now: number): Promise<string | null> {
    this.now = now;
    const value = this.entries.get(key) ?? null;
    this.entries.delete(key);
    return Promise.resolve(value);
  }

  delete(key: string): Promise<void> {
    this.entries.delete(key);
    return Promise.resolve();
  }
}

const SET_IF_ABSENT = `
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]`;

/** GETDEL without needing Redis 6.2. */
const TAKE = `
local current = redis.call('GET', KEYS[1])
if current then redis.call('DEL', KEYS[1]) end
return current`;

const REPLACE_IF = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == '' then redis.call('SET', KEYS[1], ARGV[2]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1`;

/** Redis keeps the time to live itself (`PX`), so `now` is not needed here. */
export class RedisKeyValueStore implements KeyValueStore {
  constructor(
    private readonly connection: RedisConnection,
    /** Key prefix of this namespace, e.g. `flowgpt:admin-session:`. */
    private readonly prefix: string,
  ) {}

  get(key: string): Promise<string | null> {
    return this.connection.run((redis) => redis.get(this.prefix + key));
  }

  async set(key: string, value: string, _now: number, ttlMs?: number): Promise<void> {
    const ttl = ttlMs === undefined ? undefined : Math.max(1, Math.ceil(ttlMs));
    await this.connection.run((redis) =>
      ttl === undefined ? redis.set(this.prefix + key, value) : redis.set(this.prefix + key, value, 'PX', ttl),
    );
  }

  async setIfAbsent(key: string, value: string): Promise<string> {
    return (await this.connection.run((redis) => redis.eval(SET_IF_ABSENT, 1, this.prefix + key, value))) as string;
  }

  /** `SET … XX` is Redis's own atomic "only if the key exists". */
  async setIfPresent(key: string, value: string, _now: number, ttlMs?: number): Promise<boolean> {
    const ttl = ttlMs === undefined ? undefined : Math.max(1, Math.ceil(ttlMs));
    const answer = await this.connection.run((redis) =>
      ttl === undefined ? redis.set(this.prefix + key, value, 'XX') : redis.set(this.prefix + key, value, 'PX', ttl, 'XX'),
    );
    return answer === 'OK';
  }

  async replaceIf(key: string, expected: string, value: string, _now: number, ttlMs?: number): Promise<boolean> {
    const ttl = ttlMs === undefined ? '' : String(Math.max(1, Math.ceil(ttlMs)));
    return (await this.connection.run((redis) => redis.eval(REPLACE_IF, 1, this.prefix + key, expected, value, ttl))) === 1;
  }

  async take(key: string): Promise<string | null> {
    return (await this.connection.run((redis) => redis.eval(TAKE, 1, this.prefix + key))) as string | null;
  }

  async delete(key: string): Promise<void> {
    await this.connection.run((redis) => redis.del(this.prefix + key));
  }
}
