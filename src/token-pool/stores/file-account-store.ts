// One file over 300 lines on purpose: the file adapter of the AccountStore port is one unit with its atomic write path
// (temp file, fsync, rename, fsync the folder) and the legacy import, all run by one contract suite.
import { Logger } from '@nestjs/common';
import { constants } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreUnavailableError } from '../../common/errors/store-unavailable.error';
import { StartProblem } from '../../common/startup/start-problem';
import { unusableDir } from '../../common/startup/unusable-dir';
import { isTempOf, writeFileAtomically } from '../../common/util/atomic-file';
import { textLines } from '../../common/util/text-lines';
import { byAddedAt, recordsFromLines } from '../account-record';
import { MAX_SEED_CONVERSATIONS, seedRefusal, type AccountRecord, type SeedRecord } from '../pool.types';
import { claimDataDir, releaseDataDir, systemOwnerProbe, type OwnerProbe } from './data-dir-owner';
import { acquireWithin, type AccountStore, type LockOptions, type LockResult } from './account-store';

export interface FileAccountStoreOptions {
  dataDir: string;
  /** Time source for the `addedAt` of imported tokens. */
  now?: () => number;
  /** A value the reference's `seed_map.json` holds that may not be a seed here (a secret this server is given). */
  refusedSeed?: (seed: string) => boolean;
  /** Who this process is, and whether the one an owner file of `DATA_DIR` names still runs. */
  ownerProbe?: OwnerProbe;
}

const FORMAT_VERSION = 1;
export const ACCOUNTS_FILE = 'accounts.json';
export const SEEDS_FILE = 'seeds.json';
const META_FILE = 'meta.json';
/** The reference's files (gateway.md §8.1), imported once when there is no `accounts.json` yet. */
const LEGACY_TOKENS_FILE = 'token.txt';
const LEGACY_ERROR_TOKENS_FILE = 'error_token.txt';
const LEGACY_SEEDS_FILE = 'seed_map.json';
const OWN_FILES = [ACCOUNTS_FILE, SEEDS_FILE, META_FILE];

interface AccountsFile {
  version: number;
  accounts: AccountRecord[];
}
interface SeedsFile {
  version: number;
  seeds: Record<string, Omit<SeedRecord, 'seed'>>;
}
interface MetaFile {
  version: number;
  meta: Record<string, string>;
  /** When a value set with a TTL is gone (ms since the epoch); values without one are not listed. */
  expiresAt?: Record<string, number>;
}

/** A start problem: printed as its one line, the files left as they are. */
export class CorruptDataFileError extends StartProblem {
  constructor(path: string, cause: unknown) {
    super(
      `${path} cannot be read (${cause instanceof Error ? cause.message : String(cause)}); refusing to start over it: restore it or move it away`,
    );
    this.name = 'CorruptDataFileError';
  }
}

/**
 * The default adapter: JSON files under `DATA_DIR`, for a single instance. The files are the truth and
 * this process is their only writer, so the loaded copy serves reads. Every change rewrites its file
 * atomically (temp file in the same folder, fsync, rename over, fsync the folder) and changes are
 * serialized through one queue, so a crash leaves either the old or the new file, never a torn one.
 */
export class FileAccountStore implements AccountStore {
  readonly kind = 'file';
  private readonly logger = new Logger(FileAccountStore.name);
  private readonly dir: string;
  private readonly now: () => number;
  private readonly refusedSeed: (seed: string) => boolean;
  private accounts: AccountRecord[] = [];
  private seeds = new Map<string, SeedRecord>();
  private meta: Record<string, string> = {};
  private metaExpiresAt: Record<string, number> = {};
  /** Round-robin needs no persistence: a single instance reads these files. */
  private cursor = 0;
  private opening?: Promise<void>;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly heldLocks = new Set<string>();
  private readonly ownerProbe: OwnerProbe;
  /** What this process's owner file holds, while it owns `DATA_DIR`. */
  private ownerClaim?: string;

  constructor(options: FileAccountStoreOptions) {
    this.dir = options.dataDir;
    this.now = options.now ?? Date.now;
    this.refusedSeed = options.refusedSeed ?? (() => false);
    this.ownerProbe = options.ownerProbe ?? systemOwnerProbe();
  }

  open(): Promise<void> {
    this.opening ??= this.load();
    return this.opening;
  }

  async close(): Promise<void> {
    await this.queue;
    if (this.ownerClaim) await releaseDataDir(this.dir, this.ownerClaim);
    this.ownerClaim = undefined;
  }

  /** The loaded copy serves reads; what can fail is the next write, so the folder must still be writable. */
  async ping(): Promise<void> {
    await this.open();
    try {
      await access(this.dir, constants.W_OK);
    } catch (error) {
      throw new StoreUnavailableError(`files under ${this.dir}`, error);
    }
  }

  async listAccounts(): Promise<AccountRecord[]> {
    await this.open();
    return this.accounts.map((record) => structuredClone(record));
  }

  async getAccount(id: string): Promise<AccountRecord | null> {
    await this.open();
    const record = this.accounts.find((candidate) => candidate.id === id);
    return record ? structuredClone(record) : null;
  }

  addAccounts(records: readonly AccountRecord[]): Promise<void> {
    return this.change(async () => {
      const known = new Set(this.accounts.map((record) => record.id));
      const fresh = records.filter((record) => !known.has(record.id));
      if (fresh.length === 0) return;
      await this.writeAccounts([...this.accounts, ...fresh.map((record) => structuredClone(record))].sort(byAddedAt));
    });
  }

  updateAccount(id: string, mutate: (current: AccountRecord) => AccountRecord | undefined): Promise<AccountRecord | null> {
    return this.change(async () => {
      const index = this.accounts.findIndex((record) => record.id === id);
      if (index < 0) return null;
      const next = mutate(structuredClone(this.accounts[index]));
      if (next) {
        const accounts = [...this.accounts];
        accounts[index] = { ...structuredClone(next), id };
        await this.writeAccounts(accounts);
      }
      return structuredClone(this.accounts[index]);
    });
  }

  removeAccount(id: string): Promise<boolean> {
    return this.change(async () => {
      const accounts = this.accounts.filter((record) => record.id !== id);
      if (accounts.length === this.accounts.length) return false;
      await this.writeAccounts(accounts);
      return true;
    });
  }

  clearAccounts(): Promise<number> {
    return this.change(async () => {
      const count = this.accounts.length;
      if (count > 0) await this.writeAccounts([]);
      return count;
    });
  }

  nextCursor(): Promise<number> {
    return Promise.resolve(++this.cursor);
  }

  async listSeeds(): Promise<SeedRecord[]> {
    await this.open();
    return [...this.seeds.values()].map((record) => structuredClone(record));
  }

  async countSeeds(): Promise<number> {
    await this.open();
    return this.seeds.size;
  }

  async getSeed(seed: string): Promise<SeedRecord | null> {
    await this.open();
    const record = this.seeds.get(seed);
    return record ? structuredClone(record) : null;
  }

  updateSeed(seed: string, mutate: (current: SeedRecord | null) => SeedRecord | undefined): Promise<SeedRecord | null> {
    return this.change(async () => {
      const current = this.seeds.get(seed);
      const next = mutate(current ? structuredClone(current) : null);
      if (next) {
        const seeds = new Map(this.seeds);
        seeds.set(seed, { ...structuredClone(next), seed });
        await this.writeSeeds(seeds);
      }
      const stored = this.seeds.get(seed);
      return stored ? structuredClone(stored) : null;
    });
  }

  removeSeed(seed: string): Promise<boolean> {
    return this.change(async () => {
      if (!this.seeds.has(seed)) return false;
      const seeds = new Map(this.seeds);
      seeds.delete(seed);
      await this.writeSeeds(seeds);
      return true;
    });
  }

  async getMeta(key: string): Promise<string | null> {
    await this.open();
    const expiresAt = this.metaExpiresAt[key];
    if (expiresAt !== undefined && expiresAt <= this.now()) return null;
    return this.meta[key] ?? null;
  }

  /** Every write also drops the values whose time is up, so that expiring ones do not pile up in the file. */
  setMeta(key: string, value: string, ttlMs?: number): Promise<void> {
    return this.change(async () => {
      const now = this.now();
      const meta = { ...this.meta, [key]: value };
      const expiresAt = { ...this.metaExpiresAt };
      if (ttlMs === undefined) delete expiresAt[key];
      else expiresAt[key] = now + ttlMs;
      for (const [name, at] of Object.entries(expiresAt)) {
        if (at > now) continue;
        delete meta[name];
        delete expiresAt[name];
      }
      await this.writeFile(META_FILE, { version: FORMAT_VERSION, meta, expiresAt } satisfies MetaFile);
      this.meta = meta;
      this.metaExpiresAt = expiresAt;
    });
  }

  async withLock<T>(name: string, _ttlMs: number, fn: () => Promise<T>, options: LockOptions = {}): Promise<LockResult<T>> {
    const acquired = await acquireWithin(() => {
      if (this.heldLocks.has(name)) return false;
      this.heldLocks.add(name);
      return true;
    }, options.waitMs ?? 0);
    if (!acquired) return { acquired: false };
    try {
      return { acquired: true, value: await fn() };
    } finally {
      this.heldLocks.delete(name);
    }
  }

  /** Runs a change after every earlier one, so that no two writes of the same file overlap. */
  private change<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => this.open()).then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async writeAccounts(accounts: AccountRecord[]): Promise<void> {
    await this.writeFile(ACCOUNTS_FILE, { version: FORMAT_VERSION, accounts } satisfies AccountsFile);
    this.accounts = accounts;
  }

  private async writeSeeds(seeds: Map<string, SeedRecord>): Promise<void> {
    // fromEntries defines each seed as a property of its own: an assignment would make a seed named `__proto__` the
    // object's prototype, which JSON leaves out, and the seed would be gone at the next start.
    const body: SeedsFile = {
      version: FORMAT_VERSION,
      seeds: Object.fromEntries([...seeds.values()].map(({ seed, ...rest }) => [seed, rest])),
    };
    await this.writeFile(SEEDS_FILE, body);
    this.seeds = seeds;
  }

  private writeFile(name: string, content: unknown): Promise<void> {
    return writeFileAtomically(join(this.dir, name), JSON.stringify(content, null, 1));
  }

  /** Any file-system error on the way (a folder or a file this user may not read) stops the start with one line. */
  private load(): Promise<void> {
    return this.loadFiles().catch((error: unknown) => {
      throw unusableDir(this.dir, error);
    });
  }

  private async loadFiles(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    this.ownerClaim = await claimDataDir(this.dir, this.ownerProbe, (line) => this.logger.warn(line));
    await this.removeTempLeftovers();
    const pool = await readFilePool(this.dir);
    this.accounts = pool.accounts;
    this.seeds = new Map(pool.seeds.map((record) => [record.seed, record]));
    this.meta = pool.meta;
    this.metaExpiresAt = pool.metaExpiresAt;
    if (!pool.hasAccountsFile) await this.importLegacyTokens();
    // Decided apart from the tokens: a start that stopped between the two (a seed_map.json to repair, a crash) has
    // written accounts.json, and the seeds must still come in at the next one.
    if (!pool.hasSeedsFile) await this.importLegacySeeds();
  }

  /** Temp files of a write that never reached its rename: a crash mid-write. The real file is intact. */
  private async removeTempLeftovers(): Promise<void> {
    for (const name of await readdir(this.dir)) {
      if (OWN_FILES.some((own) => isTempOf(name, own))) {
        await rm(join(this.dir, name), { force: true });
        this.logger.warn(`Removed ${name}, left over from an interrupted write`);
      }
    }
  }

  private async readLines(name: string): Promise<string[] | null> {
    const path = join(this.dir, name);
    try {
      return textLines(await readFile(path, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw unusableDir(this.dir, error, path);
    }
  }

  /**
   * First start over a reference `data/` folder: `token.txt` becomes the accounts (tokens also listed in
   * `error_token.txt` start disabled), then both files are renamed `*.imported` so that this runs once.
   */
  private async importLegacyTokens(): Promise<void> {
    const lines = await this.readLines(LEGACY_TOKENS_FILE);
    if (!lines) return;
    const rejected = new Set((await this.readLines(LEGACY_ERROR_TOKENS_FILE))?.map((line) => line.trim()).filter(Boolean) ?? []);
    const { records, result } = recordsFromLines([], lines, this.now());
    for (const record of records) {
      if (rejected.has(record.token))
        Object.assign(record, { state: 'disabled', stateReason: 'refresh token rejected (listed in error_token.txt)' });
    }
    await this.writeAccounts(records);
    for (const name of [LEGACY_TOKENS_FILE, LEGACY_ERROR_TOKENS_FILE]) {
      await rename(join(this.dir, name), join(this.dir, `${name}.imported`)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    }
    this.logger.log(
      `Imported ${LEGACY_TOKENS_FILE}: ${result.added} accounts, ${result.duplicates} duplicates, ${result.invalid} invalid lines`,
    );
  }

  /**
   * A start over a reference `data/` folder without `seeds.json` yet, after its tokens: `seed_map.json` (`{"<seed>": {"token", "conversations"}}`,
   * each seed percent-encoded as the reference's sign-in cookie held it) becomes seeds, so shared users keep their seed
   * and the account their conversations live on. A seed is bound to the pool account holding its token (else to one at
   * its first use) and counts as the admin's, since the reference accepted it as an API key too. Seeds of another
   * shape than ours are left out. The file is then renamed `seed_map.json.imported`.
   */
  private async importLegacySeeds(): Promise<void> {
    const path = join(this.dir, LEGACY_SEEDS_FILE);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw unusableDir(this.dir, error, path);
    }
    let map: unknown;
    try {
      map = JSON.parse(text);
      if (!isObject(map)) throw new Error('not a JSON object');
    } catch (error) {
      throw new CorruptDataFileError(path, error);
    }
    const seeds = new Map(this.seeds);
    let skipped = 0;
    for (const [key, entry] of Object.entries(map)) {
      const seed = decodedSeed(key);
      // As the sign-in form and the admin refuse them: a token or a server secret would be kept in the seed store.
      const mayBeSeed = seedRefusal(seed, this.refusedSeed) === null;
      if (!mayBeSeed || !isObject(entry) || seeds.has(seed)) {
        skipped++;
        continue;
      }
      const token = typeof entry.token === 'string' ? entry.token.trim() : '';
      const account = token ? this.accounts.find((record) => record.token === token) : undefined;
      const conversations = Array.isArray(entry.conversations)
        ? entry.conversations.filter((id): id is string => typeof id === 'string').slice(0, MAX_SEED_CONVERSATIONS)
        : [];
      seeds.set(seed, { seed, accountId: account?.id ?? null, conversations, createdAt: this.now(), createdBy: 'admin' });
    }
    const imported = seeds.size - this.seeds.size;
    await this.writeSeeds(seeds);
    await rename(path, `${path}.imported`);
    this.logger.log(
      `Imported ${LEGACY_SEEDS_FILE}: ${imported} seeds, ${skipped} left out (not a seed of 8 to 256 visible characters, a token or a secret of this server, or no record)`,
    );
  }
}

/** A seed as the reference stored it (percent-encoded), as typed; a key that does not decode is kept as it is. */
function decodedSeed(key: string): string {
  try {
    return decodeURIComponent(key);
  } catch {
    return key;
  }
}

/** The pool the files under a `DATA_DIR` hold, as the file store loads it. */
export interface FilePool {
  /** Ordered by `addedAt` then `id`. */
  accounts: AccountRecord[];
  seeds: SeedRecord[];
  meta: Record<string, string>;
  /** When a meta value set with a TTL is gone (ms since the epoch). */
  metaExpiresAt: Record<string, number>;
  /** Whether there is an `accounts.json` (without one, a reference `token.txt` is imported). */
  hasAccountsFile: boolean;
  /** Whether there is a `seeds.json` (without one, a reference `seed_map.json` is imported). */
  hasSeedsFile: boolean;
}

/**
 * Reads the file store's pool under `dir` without taking the folder over or writing anything: what the file store loads
 * at its start, and what `IMPORT_FILE_POOL` copies into Redis. Missing files are empty; a file that cannot be read or
 * does not have the file store's shape is a start problem.
 */
export async function readFilePool(dir: string): Promise<FilePool> {
  const accountsFile = await readDataFile<AccountsFile>(dir, ACCOUNTS_FILE);
  const seedsFile = await readDataFile<SeedsFile>(dir, SEEDS_FILE);
  const metaFile = await readDataFile<MetaFile>(dir, META_FILE);
  return {
    accounts: accountsFile ? [...accountsFile.accounts].sort(byAddedAt) : [],
    seeds: Object.entries(seedsFile?.seeds ?? {}).map(([seed, rest]) => ({ ...rest, seed })),
    meta: metaFile?.meta ?? {},
    metaExpiresAt: metaFile?.expiresAt ?? {},
    hasAccountsFile: accountsFile !== null,
    hasSeedsFile: seedsFile !== null,
  };
}

async function readDataFile<T extends { version: number }>(dir: string, name: string): Promise<T | null> {
  const path = join(dir, name);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw unusableDir(dir, error, path);
  }
  try {
    const parsed = JSON.parse(text) as T;
    if (typeof parsed !== 'object' || parsed === null || parsed.version !== FORMAT_VERSION) throw new Error(`unknown format version`);
    const problem = shapeProblem(name, parsed);
    if (problem) throw new Error(problem);
    return parsed;
  } catch (error) {
    throw new CorruptDataFileError(path, error);
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** What is wrong with the records of a data file whose JSON parsed, or undefined: a bad record must stop the start, not load. */
function shapeProblem(name: string, file: object): string | undefined {
  if (name === ACCOUNTS_FILE) {
    const { accounts } = file as Partial<AccountsFile>;
    if (!Array.isArray(accounts)) return '"accounts" is not a list';
    const bad = accounts.findIndex(
      (record: unknown) =>
        !isObject(record) ||
        typeof record.id !== 'string' ||
        typeof record.token !== 'string' ||
        typeof record.kind !== 'string' ||
        typeof record.state !== 'string' ||
        typeof record.addedAt !== 'number',
    );
    return bad >= 0 ? `account ${bad + 1} has no valid id, token, kind, state or addedAt` : undefined;
  }
  if (name === SEEDS_FILE) {
    const { seeds } = file as Partial<SeedsFile>;
    if (!isObject(seeds)) return '"seeds" is not an object';
    const bad = Object.entries(seeds).find(([, record]) => !isObject(record) || !Array.isArray(record.conversations));
    return bad ? 'a seed has no conversation list' : undefined;
  }
  const { meta } = file as Partial<MetaFile>;
  if (!isObject(meta)) return '"meta" is not an object';
  return Object.values(meta).every((value) => typeof value === 'string') ? undefined : 'a meta value is not a string';
}
