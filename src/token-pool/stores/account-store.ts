import type { AccountRecord, SeedRecord } from '../pool.types';

/** Nest provider token of the `AccountStore` chosen by configuration. */
export const ACCOUNT_STORE = 'ACCOUNT_STORE';

export type LockResult<T> = { acquired: true; value: T } | { acquired: false };

export interface LockOptions {
  /** How long to keep trying when the lock is held elsewhere; 0 (the default) gives up at once. */
  waitMs?: number;
}

/**
 * Where the pool keeps its state (the port; gateway.md §8.1 "Ours"). Two adapters: files under
 * `DATA_DIR` and Redis (`REDIS_URL`). Both run the same contract suite (`account-store.contract.ts`).
 *
 * Every method reads the current stored state: nothing may serve account states from a cache that
 * another instance could have changed.
 */
export interface AccountStore {
  /** Which adapter this is, for `/readyz` and logs. */
  readonly kind: 'file' | 'redis';
  /** Loads or connects; throws when the stored data cannot be read (the app must not start over it). */
  open(): Promise<void>;
  close(): Promise<void>;
  /**
   * Resolves when the store answers now; rejects with `StoreUnavailableError` when it does not (Redis down
   * or stalled, data folder gone or read-only). Every other method fails the same way in that case.
   */
  ping(): Promise<void>;

  /** Every account, ordered by `addedAt` then `id`. */
  listAccounts(): Promise<AccountRecord[]>;
  getAccount(id: string): Promise<AccountRecord | null>;
  /** Adds a batch in one atomic write. Records whose id is already stored are left as they are. */
  addAccounts(records: readonly AccountRecord[]): Promise<void>;
  /**
   * Read-modify-write of one account, atomic against concurrent updates (here and in other instances).
   * `mutate` may run more than once; it returns the new record, or undefined to leave it unchanged.
   * Resolves to the stored record afterwards, or null when there is no such account.
   */
  updateAccount(id: string, mutate: (current: AccountRecord) => AccountRecord | undefined): Promise<AccountRecord | null>;
  removeAccount(id: string): Promise<boolean>;
  /** Removes every account; resolves to how many there were. */
  clearAccounts(): Promise<number>;

  /** The shared round-robin cursor: 1, 2, 3, … across every instance using this store. */
  nextCursor(): Promise<number>;

  listSeeds(): Promise<SeedRecord[]>;
  /** How many seeds there are, without reading them. */
  countSeeds(): Promise<number>;
  getSeed(seed: string): Promise<SeedRecord | null>;
  /** Like `updateAccount`, but `mutate` also sees a missing seed (null) and may create it. */
  updateSeed(seed: string, mutate: (current: SeedRecord | null) => SeedRecord | undefined): Promise<SeedRecord | null>;
  removeSeed(seed: string): Promise<boolean>;

  /** Small named values (for example when a scheduled job last ran). */
  getMeta(key: string): Promise<string | null>;
  /** With `ttlMs`, the value is gone that long after this set (each set starts the time again); without, it stays. */
  setMeta(key: string, value: string, ttlMs?: number): Promise<void>;

  /**
   * Runs `fn` while holding the lock `name`: a distributed lock with Redis (expiring after `ttlMs`
   * unless renewed while `fn` runs), an in-process mutex with files. Resolves to `{acquired: false}`
   * without running `fn` when the lock stays held by someone else for `waitMs`.
   */
  withLock<T>(name: string, ttlMs: number, fn: () => Promise<T>, options?: LockOptions): Promise<LockResult<T>>;
}

const LOCK_RETRY_MS = 25;

/** Tries `tryAcquire` until it succeeds or `waitMs` has passed; shared by both adapters. */
export async function acquireWithin(tryAcquire: () => Promise<boolean> | boolean, waitMs: number): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (await tryAcquire()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, Math.min(LOCK_RETRY_MS, Math.max(1, deadline - Date.now()))));
  }
}
