import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { randomBytes, randomInt } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { StoreUnavailableError } from '../../common/errors/store-unavailable.error';
import type { RedisConnection } from '../../common/shared-state/redis-connection';
import { SystemClock } from '../../common/vocabulary/clock';
import { byAddedAt } from '../account-record';
import type { AccountRecord, SeedRecord } from '../pool.types';
import { acquireWithin, type AccountStore, type LockOptions, type LockResult } from './account-store';
import { retryWhileStoreDown } from './store-retry';

export interface RedisAccountStoreOptions {
  /** The process's one connection; its owner opens and closes it. */
  connection: RedisConnection;
  /** Every key starts with it, so that several deployments can share one Redis. */
  prefix: string;
}

/** Writes ARGV[3] into hash KEYS[1] field ARGV[1] only if the field still holds ARGV[2] ('' = absent). */
const COMPARE_AND_SET = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (current or '') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`;

/** Sets every given field that does not exist yet, in one step. */
const ADD_MISSING_FIELDS = `
for i = 1, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1`;

const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const RENEW_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

/** The pace of the tries to let go of a lock whose SET went unanswered: 0.1 s, doubling up to 1 s. */
const FIRST_RELEASE_RETRY_MS = 100;
const MAX_RELEASE_RETRY_MS = 1_000;

const MAX_UPDATE_ATTEMPTS = 50;
/**
 * After a lost compare-and-set, a writer waits a random time below this, doubled after each loss (at most
 * `MAX_UPDATE_BACKOFF_MS`): writers that all read the same value spread out instead of colliding again at once.
 */
const FIRST_UPDATE_BACKOFF_MS = 2;
const MAX_UPDATE_BACKOFF_MS = 100;

/**
 * The shared adapter (`REDIS_URL`): several instances see one pool. Accounts and seeds are JSON values in
 * two hashes; every read goes to Redis, and read-modify-writes are compare-and-set, so a state change made
 * by one instance is what the next read anywhere returns.
 */
export class RedisAccountStore implements AccountStore {
  readonly kind = 'redis';
  private readonly logger = new Logger(RedisAccountStore.name);
  private readonly connection: RedisConnection;
  /** Paces the retries of a lock release: Redis's own time, not the pool's. */
  private readonly realTime = new SystemClock();
  /** The last pending update of each hash field on this instance (`inTurn`). */
  private readonly turns = new Map<string, Promise<void>>();
  private readonly keys: { accounts: string; seeds: string; meta: string; cursor: string; lockPrefix: string };

  constructor(options: RedisAccountStoreOptions) {
    this.connection = options.connection;
    const prefix = options.prefix;
    this.keys = {
      accounts: `${prefix}accounts`,
      seeds: `${prefix}seeds`,
      meta: `${prefix}meta`,
      cursor: `${prefix}round-robin`,
      lockPrefix: `${prefix}lock:`,
    };
  }

  open(): Promise<void> {
    return this.connection.open();
  }

  /** The connection is shared with the rest of the process: its owner closes it. */
  async close(): Promise<void> {}

  ping(): Promise<void> {
    return this.connection.ping();
  }

  async listAccounts(): Promise<AccountRecord[]> {
    const values = await this.run((redis) => redis.hvals(this.keys.accounts));
    return values.map((value) => JSON.parse(value) as AccountRecord).sort(byAddedAt);
  }

  async getAccount(id: string): Promise<AccountRecord | null> {
    const value = await this.run((redis) => redis.hget(this.keys.accounts, id));
    return value === null ? null : (JSON.parse(value) as AccountRecord);
  }

  async addAccounts(records: readonly AccountRecord[]): Promise<void> {
    if (records.length === 0) return;
    const fields = records.flatMap((record) => [record.id, JSON.stringify(record)]);
    await this.run((redis) => redis.eval(ADD_MISSING_FIELDS, 1, this.keys.accounts, ...fields));
  }

  updateAccount(id: string, mutate: (current: AccountRecord) => AccountRecord | undefined): Promise<AccountRecord | null> {
    return this.compareAndSet<AccountRecord>(
      this.keys.accounts,
      id,
      (current) => {
        if (!current) return undefined;
        const next = mutate(current);
        return next && { ...next, id };
      },
      false,
    );
  }

  async removeAccount(id: string): Promise<boolean> {
    return (await this.run((redis) => redis.hdel(this.keys.accounts, id))) > 0;
  }

  async clearAccounts(): Promise<number> {
    const [[, count]] = (await this.run((redis) => redis.multi().hlen(this.keys.accounts).del(this.keys.accounts).exec())) as [
      [Error | null, number],
      unknown,
    ];
    return count;
  }

  nextCursor(): Promise<number> {
    return this.run((redis) => redis.incr(this.keys.cursor));
  }

  async listSeeds(): Promise<SeedRecord[]> {
    const entries = await this.run((redis) => redis.hgetall(this.keys.seeds));
    return Object.entries(entries).map(([seed, value]) => ({ ...(JSON.parse(value) as SeedRecord), seed }));
  }

  countSeeds(): Promise<number> {
    return this.run((redis) => redis.hlen(this.keys.seeds));
  }

  async getSeed(seed: string): Promise<SeedRecord | null> {
    const value = await this.run((redis) => redis.hget(this.keys.seeds, seed));
    return value === null ? null : { ...(JSON.parse(value) as SeedRecord), seed };
  }

  updateSeed(seed: string, mutate: (current: SeedRecord | null) => SeedRecord | undefined): Promise<SeedRecord | null> {
    return this.compareAndSet<SeedRecord>(
      this.keys.seeds,
      seed,
      (current) => {
        const next = mutate(current && { ...current, seed });
        return next && { ...next, seed };
      },
      true,
    );
  }

  async removeSeed(seed: string): Promise<boolean> {
    return (await this.run((redis) => redis.hdel(this.keys.seeds, seed))) > 0;
  }

  /** In the meta hash, or, for a value set with a TTL, in a key of its own (a hash field has no TTL before Redis 7.4). */
  async getMeta(key: string): Promise<string | null> {
    // A pipeline resolves with each command's failure rather than rejecting: read them inside `run`, so that a Redis
    // that does not answer is a StoreUnavailableError here too.
    const [inHash, expiring] = (await this.run(async (redis) =>
      repliesOf(await redis.pipeline().hget(this.keys.meta, key).get(this.expiringMetaKey(key)).exec()),
    )) as (string | null)[];
    return inHash ?? expiring ?? null;
  }

  async setMeta(key: string, value: string, ttlMs?: number): Promise<void> {
    const expiring = this.expiringMetaKey(key);
    await this.run(async (redis) =>
      repliesOf(
        await (ttlMs === undefined
          ? redis.multi().hset(this.keys.meta, key, value).del(expiring).exec()
          : redis
              .multi()
              .set(expiring, value, 'PX', Math.max(1, Math.ceil(ttlMs)))
              .hdel(this.keys.meta, key)
              .exec()),
      ),
    );
  }

  private expiringMetaKey(key: string): string {
    return `${this.keys.meta}:${key}`;
  }

  async withLock<T>(name: string, ttlMs: number, fn: () => Promise<T>, options: LockOptions = {}): Promise<LockResult<T>> {
    const key = `${this.keys.lockPrefix}${name}`;
    const owner = randomBytes(16).toString('hex');
    let acquired: boolean;
    try {
      acquired = await acquireWithin(
        async () => (await this.run((redis) => redis.set(key, owner, 'PX', ttlMs, 'NX'))) === 'OK',
        options.waitMs ?? 0,
      );
    } catch (error) {
      // A stalled Redis runs the unanswered SET once it answers again, and then holds the lock for nobody until its TTL
      // (a minute of refused renewals and uploads): let go of it in the background once Redis answers, within that TTL.
      if (error instanceof StoreUnavailableError) void this.releaseWhenBack(name, key, owner, ttlMs);
      throw error;
    }
    if (!acquired) return { acquired: false };
    // Keeps the lock while fn runs longer than ttlMs; the TTL only frees it when this process dies.
    const renewal = setInterval(
      () => {
        this.connection.client
          .eval(RENEW_LOCK, 1, key, owner, ttlMs)
          .then((renewed) => {
            // Expired while Redis was away (or taken over since): whoever holds it now may be doing the same work.
            if (renewed === 0)
              this.logger.warn(`Lost lock ${name}: it expired before it could be renewed, and another instance may take it`);
          })
          .catch((error: Error) => this.logger.warn(`Could not renew lock ${name}: ${error.message}`));
      },
      Math.max(50, Math.floor(ttlMs / 3)),
    );
    renewal.unref();
    try {
      return { acquired: true, value: await fn() };
    } finally {
      clearInterval(renewal);
      await this.release(name, key, owner);
    }
  }

  /**
   * Deletes the lock if `owner` still holds it. A Redis that comes back with its data has the lock too: left there, it
   * would hold off every other instance until its TTL, so the release is tried again while Redis does not answer.
   */
  private async release(name: string, key: string, owner: string): Promise<void> {
    await retryWhileStoreDown(() => this.run((redis) => redis.eval(RELEASE_LOCK, 1, key, owner)), this.realTime).catch((error: Error) =>
      this.logger.warn(`Could not release lock ${name}: ${error.message}`),
    );
  }

  /**
   * Deletes a lock whose SET went unanswered, should Redis have run it, trying until Redis answers (at most `ttlMs`: by
   * then the lock has expired anyway). A try on the same connection follows the SET; one on a new connection is made
   * after Redis answers again, and so after it ran what the old connection had sent.
   */
  private async releaseWhenBack(name: string, key: string, owner: string, ttlMs: number): Promise<void> {
    const deadline = this.realTime.now() + ttlMs;
    for (let pauseMs = FIRST_RELEASE_RETRY_MS; ; pauseMs = Math.min(pauseMs * 2, MAX_RELEASE_RETRY_MS)) {
      try {
        await this.run((redis) => redis.eval(RELEASE_LOCK, 1, key, owner));
        return;
      } catch (error) {
        // A connection closed for good (the app shutting down) is not coming back.
        if (this.connection.client.status === 'end') return;
        if (!(error instanceof StoreUnavailableError) || this.realTime.now() + pauseMs >= deadline) {
          this.logger.warn(`Could not release lock ${name}: ${(error as Error).message}`);
          return;
        }
      }
      await this.realTime.wait(pauseMs);
    }
  }

  /** Every command goes through here, so that a down or stalled Redis becomes a `StoreUnavailableError`. */
  private run<T>(commands: (redis: Redis) => Promise<T>): Promise<T> {
    return this.connection.run(commands);
  }

  /**
   * Optimistic read-modify-write of one hash field, retried (after a random back-off) while another instance's writer
   * got there first. This instance's own writers of one field take turns (`inTurn`), so that a burst of requests on one
   * account does not spend the retries colliding with itself, the more so on a busy machine.
   */
  private compareAndSet<T extends object>(
    hash: string,
    field: string,
    mutate: (current: T | null) => T | undefined,
    mayCreate: boolean,
  ): Promise<T | null> {
    return this.inTurn(`${hash}\n${field}`, () => this.compareAndSetNow(hash, field, mutate, mayCreate));
  }

  /** Runs `work` after every earlier call for `key` on this instance has settled. */
  private inTurn<T>(key: string, work: () => Promise<T>): Promise<T> {
    const turn = (this.turns.get(key) ?? Promise.resolve()).then(work, work);
    const settled = turn.then(
      () => undefined,
      () => undefined,
    );
    this.turns.set(key, settled);
    void settled.then(() => {
      if (this.turns.get(key) === settled) this.turns.delete(key);
    });
    return turn;
  }

  private async compareAndSetNow<T extends object>(
    hash: string,
    field: string,
    mutate: (current: T | null) => T | undefined,
    mayCreate: boolean,
  ): Promise<T | null> {
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      const raw = await this.run((redis) => redis.hget(hash, field));
      if (raw === null && !mayCreate) return null;
      const current = raw === null ? null : (JSON.parse(raw) as T);
      const next = mutate(current === null ? null : structuredClone(current));
      if (!next) return current;
      const serialized = JSON.stringify(next);
      if ((await this.run((redis) => redis.eval(COMPARE_AND_SET, 1, hash, field, raw ?? '', serialized))) === 1)
        return JSON.parse(serialized) as T;
      await delay(randomInt(Math.min(FIRST_UPDATE_BACKOFF_MS * 2 ** attempt, MAX_UPDATE_BACKOFF_MS)));
    }
    // Other writers kept changing it (hundreds of requests on one account): as busy as a store that does not answer, and
    // worth a retry shortly, so the caller's 503 rather than a 500.
    throw new StoreUnavailableError(this.connection.description, new Error(`too many concurrent updates of ${field} in ${hash}`));
  }
}

/** The replies of a pipeline or transaction; the first command that failed throws its error. */
function repliesOf(results: [Error | null, unknown][] | null): unknown[] {
  return (results ?? []).map(([error, reply]) => {
    if (error) throw error;
    return reply;
  });
}
