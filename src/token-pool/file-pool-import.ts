import { resolve } from 'node:path';
import { maskSecret } from '../common/util/secrets';
import { ROTATION_KEY_PREFIX } from './rotation-links';
import type { AccountStore } from './stores/account-store';
import { readFilePool } from './stores/file-account-store';

/** The meta key of the import record: written once the file store's pool is in Redis, so that it is never imported again. */
export const FILE_POOL_IMPORT_KEY = 'file-pool-import';
const IMPORT_LOCK = 'file-pool-import';
const IMPORT_LOCK_TTL_MS = 60_000;
/** How long an instance waits for another one's import before it starts without knowing how that went. */
const IMPORT_WAIT_MS = 5 * 60_000;

/** What was imported, when and from where: the import record. */
export interface FilePoolImportRecord {
  /** Ms since the epoch. */
  at: number;
  dataDir: string;
  accounts: number;
  seeds: number;
  /** Stored rotations of RefreshTokens and SessionTokens (`RotationLinks`). */
  rotations: number;
}

/** An imported account as the log may name it. */
export interface ImportedAccount {
  id: string;
  kind: string;
  maskedToken: string;
}

export type FilePoolImportOutcome =
  | { outcome: 'imported'; record: FilePoolImportRecord; accounts: ImportedAccount[] }
  /** Imported before (by this instance or another one): never again. */
  | { outcome: 'imported_before'; record: FilePoolImportRecord }
  /** The pool in Redis holds accounts already: the files are not mixed into it. */
  | { outcome: 'pool_not_empty'; accounts: number }
  | { outcome: 'nothing_to_import'; dataDir: string }
  /** Another instance held the import's lock all the time this one waited. */
  | { outcome: 'busy' };

/**
 * `IMPORT_FILE_POOL`: copies the pool the file store keeps under `dataDir` (accounts, seeds, and the stored rotations
 * of RefreshTokens and SessionTokens, with the time each has left) into `store` (Redis), once: only while the store
 * holds no account and no import record, under the store's lock (instances starting together import once; the others
 * wait and find the record). The files are read, never written. Seeds already in the store are kept as they are.
 * Accounts go last, in one atomic write, and the record right after them: an import cut short (a crash) leaves no
 * account and no record, and the next start runs it again over what it had written.
 */
export async function importFilePool(store: AccountStore, dataDir: string, now: () => number): Promise<FilePoolImportOutcome> {
  const before = await importRecord(store);
  if (before) return { outcome: 'imported_before', record: before };
  const locked = await store.withLock(
    IMPORT_LOCK,
    IMPORT_LOCK_TTL_MS,
    async (): Promise<FilePoolImportOutcome> => {
      // Another instance may have imported while this one waited for the lock.
      const record = await importRecord(store);
      if (record) return { outcome: 'imported_before', record };
      const held = (await store.listAccounts()).length;
      if (held > 0) return { outcome: 'pool_not_empty', accounts: held };
      return copy(store, resolve(dataDir), now);
    },
    { waitMs: IMPORT_WAIT_MS },
  );
  return locked.acquired ? locked.value : { outcome: 'busy' };
}

async function copy(store: AccountStore, dataDir: string, now: () => number): Promise<FilePoolImportOutcome> {
  const pool = await readFilePool(dataDir);
  const rotations = Object.entries(pool.meta).filter(([key]) => key.startsWith(ROTATION_KEY_PREFIX));
  if (pool.accounts.length === 0 && pool.seeds.length === 0 && rotations.length === 0) return { outcome: 'nothing_to_import', dataDir };
  let rotationsCopied = 0;
  for (const [key, value] of rotations) {
    const expiresAt = pool.metaExpiresAt[key];
    const ttlMs = expiresAt === undefined ? undefined : expiresAt - now();
    if (ttlMs !== undefined && ttlMs <= 0) continue;
    await store.setMeta(key, value, ttlMs);
    rotationsCopied++;
  }
  for (const seed of pool.seeds) await store.updateSeed(seed.seed, (current) => (current ? undefined : seed));
  await store.addAccounts(pool.accounts);
  const record: FilePoolImportRecord = {
    at: now(),
    dataDir,
    accounts: pool.accounts.length,
    seeds: pool.seeds.length,
    rotations: rotationsCopied,
  };
  await store.setMeta(FILE_POOL_IMPORT_KEY, JSON.stringify(record));
  const accounts = pool.accounts.map((account) => ({ id: account.id, kind: account.kind, maskedToken: maskSecret(account.token) }));
  return { outcome: 'imported', record, accounts };
}

/** The import record, when there is one. */
export async function importRecord(store: AccountStore): Promise<FilePoolImportRecord | null> {
  const value = await store.getMeta(FILE_POOL_IMPORT_KEY);
  return value === null ? null : (JSON.parse(value) as FilePoolImportRecord);
}
