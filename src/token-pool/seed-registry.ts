import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { ApiError } from '../common/errors/api-error';
import { maskSecret, secretInList, secretsEqual } from '../common/util/secrets';
import { Clock } from '../common/vocabulary/clock';
import { AppConfig } from '../config/app-config';
import { AccountLeaser } from './account-leaser';
import { MAX_SEED_CONVERSATIONS, MAX_SEED_FILES, seedRefusal, type AccountLease, type SeedRecord, type SeedView } from './pool.types';
import { ACCOUNT_STORE, type AccountStore } from './stores/account-store';

/** Whether `value` is a secret this server is given (a pool key, the admin secret, API_PREFIX), which no seed may be. */
export function isServerSecret(value: string, config: Pick<AppConfig, 'authorization' | 'adminKey' | 'apiPrefix'>): boolean {
  return (
    secretInList(value, config.authorization) ||
    [config.adminKey, config.apiPrefix].some((secret) => secret !== undefined && secret !== '' && secretsEqual(value, secret))
  );
}

/**
 * SeedTokens (gateway.md §3.6, §4.4): which pool account each seed stands for, its sticky binding and
 * rebinding, the admin's seed list, and the conversations each seed created.
 */
@Injectable()
export class SeedRegistry {
  private readonly logger = new Logger(SeedRegistry.name);
  /** seedId → seed, filled from the store on a miss (each instance learns the seeds it is asked about). */
  private readonly seedsById = new Map<string, string>();

  constructor(
    @Inject(ACCOUNT_STORE) private readonly store: AccountStore,
    private readonly leaser: AccountLeaser,
    private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {}

  /**
   * The account a seed stands for. The binding is sticky while its account is active; once the account
   * leaves the active state (or is removed) the seed moves to another active account. An account this
   * request already tried is skipped for this request only, without moving the seed. A `paidOnly` model goes to an
   * account whose plan may serve it first (`AccountLeaser.pick`): when the bound account is known to be free, to another
   * one that is paid or not known yet, for this request only; the bound account is tried before any other free one.
   * Not for a request that `continuesConversation`: the conversation lives on the bound account (the plan the pool
   * remembers is a hint, and another account answers the continuation 404), so that one is tried first.
   * `'invalid_seed'` when `AUTO_SEED=false` and the seed was never created; `'seed_limit'` when it would be a new
   * seed and there are `MAX_SEEDS` already; null when no account is available.
   */
  async leaseForSeed(
    seed: string,
    options: { exclude?: ReadonlySet<string>; mustExist?: boolean; paidOnly?: boolean; continuesConversation?: boolean } = {},
  ): Promise<AccountLease | 'invalid_seed' | 'seed_limit' | null> {
    const exclude = options.exclude ?? new Set<string>();
    const record = await this.store.getSeed(seed);
    if (!record && (options.mustExist || !this.config.autoSeed)) return 'invalid_seed';
    // A bound on growth, not an exact quota: sign-ins running at once may each pass it with one seed.
    if (!record && (await this.store.countSeeds()) >= this.config.maxSeeds) {
      this.logger.warn(`Seed ${maskSecret(seed)} not minted: there are MAX_SEEDS (${this.config.maxSeeds}) seeds already`);
      return 'seed_limit';
    }
    const boundId = record?.accountId ?? null;
    let keepBinding = false;
    if (boundId) {
      const bound = await this.leaser.leaseAccount(boundId, { exclude });
      const elsewhereFirst = options.paidOnly && !options.continuesConversation && bound.lease?.planTier === 'free';
      if (bound.lease && !elsewhereFirst) return bound.lease;
      if (bound.lease) return (await this.mayServePaidOnly(new Set([...exclude, boundId]))) ?? bound.lease;
      keepBinding = bound.stillActive;
    }
    const lease = await this.leaser.lease({ exclude: boundId ? new Set([...exclude, boundId]) : exclude, paidOnly: options.paidOnly });
    if (keepBinding) return lease;
    const accountId = lease?.accountId ?? null;
    await this.store.updateSeed(seed, (current) => {
      // Another request (or instance) moved it first, or an admin removed it: theirs stands.
      if ((current?.accountId ?? null) !== boundId || (!current && record)) return undefined;
      if (current?.accountId === accountId) return undefined;
      if (current) return { ...current, accountId };
      return { seed, accountId, conversations: [], createdAt: this.clock.now(), createdBy: 'sign-in' };
    });
    if (boundId !== accountId)
      this.logger.log(`Seed ${maskSecret(seed)} bound to account ${accountId ?? '<none>'}${boundId ? ` (was ${boundId})` : ''}`);
    return lease;
  }

  /** An account for a paid-only model whose plan may serve it (paid, or not known yet); null when none is left. */
  private async mayServePaidOnly(exclude: ReadonlySet<string>): Promise<AccountLease | null> {
    const lease = await this.leaser.lease({ exclude, paidOnly: true });
    return lease?.planTier === 'free' ? null : lease;
  }

  /** Whether the seed still exists (no admin has removed it): a read, nothing is bound or leased. */
  async exists(seed: string): Promise<boolean> {
    return (await this.store.getSeed(seed)) !== null;
  }

  /** Whether the admin created this seed: the API accepts no other (a seed minted at a browser sign-in is not a key). */
  async adminCreated(seed: string): Promise<boolean> {
    const record = await this.store.getSeed(seed);
    return record !== null && (record.createdBy ?? 'admin') === 'admin';
  }

  /**
   * Creates a seed (a random one when none is given) bound to an active account if there is one. Idempotent; a seed
   * minted at a browser sign-in becomes the admin's (an API key too).
   */
  async createSeed(seed?: string): Promise<string> {
    return (await this.createSeedReporting(seed)).seed;
  }

  /**
   * `createSeed`, saying whether it changed anything: `created` is false for a seed that was already the admin's (a
   * seed minted at a browser sign-in that becomes the admin's counts as created: it is an API key from now on).
   */
  async createSeedReporting(seed?: string): Promise<{ seed: string; created: boolean }> {
    const value = this.checkedSeed(seed?.trim() || randomBytes(18).toString('base64url'));
    const account = await this.leaser.pick(new Set());
    const now = this.clock.now();
    let created = true;
    await this.store.updateSeed(value, (current) => {
      // Decided inside the update, which the store runs once more when another writer got there first.
      created = !current || (current.createdBy ?? 'admin') !== 'admin';
      if (!current) return { seed: value, accountId: account?.id ?? null, conversations: [], createdAt: now, createdBy: 'admin' };
      return created ? { ...current, createdBy: 'admin' } : undefined;
    });
    return { seed: value, created };
  }

  /**
   * Binds a seed (trimmed, under the same rules as `createSeed`) to this account, creating it when it does not exist; an
   * existing seed keeps its conversations. The seed becomes the admin's (an API key too, and usable with
   * `AUTO_SEED=false`).
   */
  async bindSeed(seed: string, accountId: string): Promise<string> {
    const value = this.checkedSeed(seed.trim());
    const now = this.clock.now();
    await this.store.updateSeed(value, (current) =>
      current
        ? { ...current, accountId, createdBy: 'admin' }
        : { seed: value, accountId, conversations: [], createdAt: now, createdBy: 'admin' },
    );
    return value;
  }

  /** The seed as `bindSeed` would store it (trimmed); throws `invalid_seed` as it would, so a caller can refuse first. */
  checkSeed(seed: string): string {
    return this.checkedSeed(seed.trim());
  }

  /** The stored seed (trimmed, as `createSeed` stores it); null for an unknown one. */
  findSeed(seed: string): Promise<SeedRecord | null> {
    return this.store.getSeed(seed.trim());
  }

  /** Every stored seed, oldest first. */
  async seedRecords(): Promise<SeedRecord[]> {
    return (await this.store.listSeeds()).sort((a, b) => a.createdAt - b.createdAt);
  }

  /** A seed the admin may create: not a credential, a pool key or the admin secret, and of the seed shape. */
  private checkedSeed(value: string): string {
    const refusal = seedRefusal(value, (candidate) => isServerSecret(candidate, this.config));
    if (refusal === 'secret') {
      throw ApiError.invalidRequest(
        'A seed must not be an AccessToken, a RefreshToken, a pool key or the admin secret.',
        'invalid_seed',
        'seed',
      );
    }
    // A key a client sends in a header, and one nobody picks by chance.
    if (refusal === 'shape') {
      throw ApiError.invalidRequest(
        'A seed must be 8 to 256 visible ASCII characters (letters, digits, punctuation; no spaces).',
        'invalid_seed',
        'seed',
      );
    }
    return value;
  }

  /** Trimmed, as `createSeed` stores it. */
  removeSeed(seed: string): Promise<boolean> {
    return this.store.removeSeed(seed.trim());
  }

  /** Removes the seed with this id (see `SeedView.id`), so admins never have to handle the seed itself. */
  async removeSeedById(id: string): Promise<boolean> {
    const record = (await this.store.listSeeds()).find((candidate) => seedIdFor(candidate.seed) === id);
    return record ? this.store.removeSeed(record.seed) : false;
  }

  /** Forgets every seed-to-account mapping; returns how many there were. */
  async clearSeeds(): Promise<number> {
    let removed = 0;
    for (const record of await this.store.listSeeds()) if (await this.store.removeSeed(record.seed)) removed++;
    return removed;
  }

  async listSeeds(): Promise<SeedView[]> {
    return (await this.store.listSeeds())
      .sort((a, b) => a.createdAt - b.createdAt)
      .map((record) => ({
        id: seedIdFor(record.seed),
        maskedSeed: maskSecret(record.seed),
        accountId: record.accountId,
        conversations: record.conversations.length,
      }));
  }

  /**
   * Remembers that a seed created a conversation (newest first), for per-seed ownership (gateway.md §4.4); past
   * `MAX_SEED_CONVERSATIONS` the oldest are dropped.
   */
  async recordSeedConversation(seed: string, conversationId: string): Promise<void> {
    await this.store.updateSeed(seed, (current: SeedRecord | null) => {
      if (!current) return undefined;
      const others = current.conversations.filter((id) => id !== conversationId);
      return { ...current, conversations: [conversationId, ...others].slice(0, MAX_SEED_CONVERSATIONS) };
    });
  }

  /** The conversations a seed created, newest first; empty for an unknown seed. */
  async seedConversations(seed: string): Promise<string[]> {
    return (await this.store.getSeed(seed))?.conversations ?? [];
  }

  /**
   * The same, by the seed's public id: a browser session knows only `seedId` (gateway.md §4.4). False when no
   * seed has this id.
   */
  async recordConversationForSeedId(seedId: string, conversationId: string): Promise<boolean> {
    const seed = await this.seedOfId(seedId);
    if (!seed) return false;
    await this.recordSeedConversation(seed, conversationId);
    return true;
  }

  async conversationsOfSeedId(seedId: string): Promise<string[]> {
    const seed = await this.seedOfId(seedId);
    return seed ? this.seedConversations(seed) : [];
  }

  /** Whether the seed with this id created this conversation (ids compared without regard to case). */
  async ownsConversation(seedId: string, conversationId: string): Promise<boolean> {
    const wanted = conversationId.toLowerCase();
    return (await this.conversationsOfSeedId(seedId)).some((id) => id.toLowerCase() === wanted);
  }

  /**
   * Remembers files as the seed's, by its public id (newest first; past `MAX_SEED_FILES` the oldest are dropped): the
   * ones it uploaded and the ones its own conversations received, which are all it may fetch (gateway.md §4.4). The
   * record is rewritten only when one of them is new to it.
   */
  async recordFilesForSeedId(seedId: string, fileIds: readonly string[]): Promise<void> {
    if (fileIds.length === 0) return;
    const seed = await this.seedOfId(seedId);
    if (!seed) return;
    await this.store.updateSeed(seed, (current: SeedRecord | null) => {
      if (!current) return undefined;
      const known = current.files ?? [];
      const fresh = [...new Set(fileIds)].filter((id) => !known.includes(id));
      if (fresh.length === 0) return undefined;
      return { ...current, files: [...fresh, ...known].slice(0, MAX_SEED_FILES) };
    });
  }

  /** The files the seed with this id uploaded or received, newest first; empty for an unknown seed. */
  async filesOfSeedId(seedId: string): Promise<string[]> {
    const seed = await this.seedOfId(seedId);
    return seed === null ? [] : ((await this.store.getSeed(seed))?.files ?? []);
  }

  /** Whether the seed with this id uploaded or received this file (ids compared as written). */
  async ownsFile(seedId: string, fileId: string): Promise<boolean> {
    return (await this.filesOfSeedId(seedId)).includes(fileId);
  }

  /** The seed behind a public id; the id is a hash of the seed, so a found pair stays true and is kept. */
  private async seedOfId(seedId: string): Promise<string | null> {
    const known = this.seedsById.get(seedId);
    if (known) return known;
    for (const record of await this.store.listSeeds()) this.seedsById.set(seedIdFor(record.seed), record.seed);
    return this.seedsById.get(seedId) ?? null;
  }
}

/** A seed's public id: a short hash, like account ids, so it can appear in URLs and pages. */
export function seedIdFor(seed: string): string {
  return `seed-${createHash('sha256').update('flowgpt-seed:').update(seed).digest('base64url').slice(0, 12)}`;
}
