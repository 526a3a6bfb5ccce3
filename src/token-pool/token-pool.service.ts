import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { ApiError } from '../common/errors/api-error';
import { maskSecret, secretInList } from '../common/util/secrets';
import { AppConfig } from '../config/app-config';
import { accessTokenDead, accessTokenFields, dropUndefined, effectiveState, needsRefresh, recordsFromLines } from './account-record';
import type { AccountOutcome } from '../common/vocabulary/account-outcome';
import { Clock } from '../common/vocabulary/clock';
import type {
  AccountCounts,
  AccountLease,
  AccountRecord,
  AccountState,
  AccountView,
  PoolReadiness,
  RefreshSummary,
  SeedRecord,
  SeedView,
  UploadResult,
} from './pool.types';
import { AuthServerUnavailableError, RefreshTokenExchanger, RefreshTokenRejectedError } from './refresh-token.exchanger';
import { ACCOUNT_STORE, type AccountStore } from './stores/account-store';
import { parseCredential } from './token-kind';

/** Consecutive rate limits without a reset hint keep an account out for 1 min, then 5 min, then 30 min. */
export const RATE_LIMIT_BACKOFF_MS = [60_000, 5 * 60_000, 30 * 60_000] as const;

const UPLOAD_LOCK = 'accounts-upload';
const LOCK_TTL_MS = 60_000;
const LOCK_WAIT_MS = 30_000;

/** What one attempt to renew an account's AccessToken came to. */
type RenewOutcome = 'refreshed' | 'current' | 'disabled' | 'failed' | 'not_applicable';

/**
 * The account pool (gateway.md §8, issue 4): which account a request uses, what its outcome does to the
 * account, RefreshToken renewal, SeedToken bindings and the admin operations. All state lives in the
 * `AccountStore`, so several instances on one Redis share it.
 */
@Injectable()
export class TokenPoolService {
  private readonly logger = new Logger(TokenPoolService.name);

  constructor(
    @Inject(ACCOUNT_STORE) private readonly store: AccountStore,
    private readonly exchanger: RefreshTokenExchanger,
    private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {}

  /**
   * An account for a pool-key request, never one in `exclude` (those this request already tried).
   * RefreshToken accounts get a fresh AccessToken first. Null when no account is available (503).
   */
  async lease(options: { exclude?: ReadonlySet<string> } = {}): Promise<AccountLease | null> {
    const tried = new Set(options.exclude);
    for (;;) {
      const account = await this.pick(tried);
      if (!account) return null;
      const lease = await this.prepare(account);
      if (lease) return lease;
      tried.add(account.id);
    }
  }

  /**
   * The account a seed stands for. The binding is sticky while its account is active; once the account
   * leaves the active state (or is removed) the seed moves to another active account. An account this
   * request already tried is skipped for this request only, without moving the seed.
   * `'invalid_seed'` when `AUTO_SEED=false` and the seed was never created; null when no account is available.
   */
  async leaseForSeed(seed: string, options: { exclude?: ReadonlySet<string> } = {}): Promise<AccountLease | 'invalid_seed' | null> {
    const exclude = options.exclude ?? new Set<string>();
    const record = await this.store.getSeed(seed);
    if (!record && !this.config.autoSeed) return 'invalid_seed';
    const boundId = record?.accountId ?? null;
    let keepBinding = false;
    if (boundId) {
      let account = await this.store.getAccount(boundId);
      if (account && this.isActive(account) && !exclude.has(boundId)) {
        const lease = await this.prepare(account);
        if (lease) return lease;
        account = await this.store.getAccount(boundId);
      }
      keepBinding = account !== null && this.isActive(account);
    }
    const lease = await this.lease({ exclude: boundId ? new Set([...exclude, boundId]) : exclude });
    if (keepBinding) return lease;
    const accountId = lease?.accountId ?? null;
    await this.store.updateSeed(seed, (current) => {
      // Another request (or instance) moved it first, or an admin removed it: theirs stands.
      if ((current?.accountId ?? null) !== boundId || (!current && record)) return undefined;
      if (current?.accountId === accountId) return undefined;
      return { seed, accountId, conversations: current?.conversations ?? [], createdAt: current?.createdAt ?? this.clock.now() };
    });
    if (boundId !== accountId) this.logger.log(`Seed ${maskSecret(seed)} bound to account ${accountId ?? '<none>'}${boundId ? ` (was ${boundId})` : ''}`);
    return lease;
  }

  /** What the upstream said about a leased account. */
  async report(accountId: string, outcome: AccountOutcome): Promise<void> {
    const now = this.clock.now();
    switch (outcome.kind) {
      case 'success':
        await this.store.updateAccount(accountId, (current) => ({
          ...current,
          rateLimitStrikes: 0,
          failures: 0,
          lastUsedAt: now,
          // A success that was under way when a rate limit hit does not lift it early.
          ...(current.state === 'rate_limited' && (current.rateLimitedUntil ?? 0) <= now ? { state: 'active' as const, rateLimitedUntil: undefined, stateReason: undefined } : {}),
        }));
        return;
      case 'rate_limited': {
        const updated = await this.store.updateAccount(accountId, (current) => {
          if (current.state === 'disabled' || current.state === 'expired') return undefined;
          const hintMs = outcome.retryAfterSec && outcome.retryAfterSec > 0 ? outcome.retryAfterSec * 1000 : undefined;
          // Requests that were already in flight when the limit hit do not count as further strikes.
          if (current.state === 'rate_limited' && (current.rateLimitedUntil ?? 0) > now) {
            return hintMs ? { ...current, rateLimitedUntil: Math.max(current.rateLimitedUntil ?? 0, now + hintMs) } : undefined;
          }
          const strikes = current.rateLimitStrikes + 1;
          const delay = hintMs ?? RATE_LIMIT_BACKOFF_MS[Math.min(strikes, RATE_LIMIT_BACKOFF_MS.length) - 1];
          return {
            ...current,
            state: 'rate_limited',
            rateLimitedUntil: now + delay,
            rateLimitStrikes: strikes,
            stateReason: hintMs ? 'upstream rate limit (reset hint)' : `upstream rate limit (${strikes} in a row)`,
          };
        });
        if (updated?.state === 'rate_limited') {
          this.logger.warn(`Account ${accountId} (${maskSecret(updated.token)}) rate limited until ${new Date(updated.rateLimitedUntil ?? now).toISOString()}`);
        }
        return;
      }
      case 'unauthorized': {
        const account = await this.store.getAccount(accountId);
        if (!account) return;
        if (account.kind === 'access_token') {
          await this.setState(accountId, 'disabled', 'access token rejected');
          return;
        }
        await this.store.updateAccount(accountId, (current) =>
          current.state === 'disabled' ? undefined : { ...current, state: 'expired', stateReason: 'access token rejected; refresh pending', failures: current.failures + 1 },
        );
        await this.renew(account, true);
        return;
      }
      case 'forbidden':
        await this.setState(accountId, 'disabled', outcome.reason ?? 'account deactivated or banned (HTTP 403)');
        return;
      case 'unusable':
        await this.setState(accountId, 'disabled', outcome.reason);
        return;
      case 'failed':
        await this.store.updateAccount(accountId, (current) => ({ ...current, failures: current.failures + 1 }));
        this.logger.warn(`Account ${accountId} failed an attempt: ${outcome.reason}`);
        return;
    }
  }

  /** Adds credentials, one per line; blank lines and `#` comments are ignored. One store write per call. */
  async upload(lines: string[]): Promise<UploadResult> {
    const outcome = await this.store.withLock(
      UPLOAD_LOCK,
      LOCK_TTL_MS,
      async () => {
        const { records, result } = recordsFromLines(await this.store.listAccounts(), lines, this.clock.now());
        await this.store.addAccounts(records);
        return result;
      },
      { waitMs: LOCK_WAIT_MS },
    );
    if (!outcome.acquired) throw new ApiError(503, 'server_error', 'pool_busy', 'Another upload is in progress. Try again.');
    const { added, duplicates, invalid } = outcome.value;
    this.logger.log(`Upload: ${added} added, ${duplicates} duplicates, ${invalid} invalid`);
    return outcome.value;
  }

  async list(): Promise<AccountView[]> {
    const now = this.clock.now();
    return (await this.store.listAccounts()).map((record) => this.view(record, now));
  }

  async counts(): Promise<AccountCounts> {
    const now = this.clock.now();
    const counts: AccountCounts = { total: 0, active: 0, rate_limited: 0, expired: 0, disabled: 0 };
    for (const record of await this.store.listAccounts()) {
      counts.total++;
      counts[effectiveState(record, now)]++;
    }
    return counts;
  }

  /**
   * For `/readyz`: the store answers (else `StoreUnavailableError`), and what the pool holds: accounts by
   * state and the number of seeds.
   */
  async readiness(): Promise<PoolReadiness> {
    await this.store.ping();
    const [accounts, seeds] = await Promise.all([this.counts(), this.store.listSeeds()]);
    return { store: this.store.kind, accounts, seeds: seeds.length };
  }

  async remove(id: string): Promise<boolean> {
    const account = await this.store.getAccount(id);
    if (!account || !(await this.store.removeAccount(id))) return false;
    this.exchanger.forget(account.token);
    this.logger.log(`Removed account ${id} (${maskSecret(account.token)})`);
    return true;
  }

  async clear(): Promise<number> {
    const accounts = await this.store.listAccounts();
    const count = await this.store.clearAccounts();
    for (const account of accounts) this.exchanger.forget(account.token);
    this.logger.log(`Cleared the pool: ${count} accounts removed`);
    return count;
  }

  /** Puts an account back in service, whatever its state; a RefreshToken account gets a new AccessToken on next use. */
  async restore(id: string): Promise<boolean> {
    const now = this.clock.now();
    const restored = await this.store.updateAccount(id, (current) => {
      const next: AccountRecord = { ...current, state: 'active', stateReason: undefined, rateLimitedUntil: undefined, rateLimitStrikes: 0, failures: 0 };
      if (current.kind === 'refresh_token') Object.assign(next, { accessToken: undefined, accessTokenExpiresAt: undefined });
      if (accessTokenDead(next, now)) Object.assign(next, { state: 'expired', stateReason: 'access token expired' });
      return next;
    });
    if (restored) this.logger.log(`Restored account ${id} (${maskSecret(restored.token)}): now ${restored.state}`);
    return restored !== null;
  }

  /**
   * Renews RefreshToken accounts, at most `REFRESH_CONCURRENCY` at a time. Not forced: only those whose
   * AccessToken is missing, expired or close to expiry. Forced: every RefreshToken account not disabled.
   */
  async refresh(options: { id?: string; force?: boolean } = {}): Promise<RefreshSummary> {
    const force = options.force ?? false;
    const now = this.clock.now();
    const accounts = options.id ? [await this.store.getAccount(options.id)].filter((record): record is AccountRecord => record !== null) : await this.store.listAccounts();
    const due = accounts.filter((record) => record.kind === 'refresh_token' && record.state !== 'disabled' && (force || needsRefresh(record, now)));
    const summary: RefreshSummary = { attempted: 0, refreshed: 0, failed: 0, disabled: 0, skipped: accounts.length - due.length };
    await forEachLimited(due, this.config.refreshConcurrency, async (record) => {
      const outcome = await this.renew(record, force);
      if (outcome === 'current' || outcome === 'not_applicable') {
        summary.skipped++;
        return;
      }
      summary.attempted++;
      summary[outcome]++;
    });
    if (due.length > 0 || force) {
      this.logger.log(
        `Refresh${force ? ' (forced)' : ''}: ${summary.attempted} attempted, ${summary.refreshed} refreshed, ${summary.failed} failed, ${summary.disabled} disabled, ${summary.skipped} skipped`,
      );
    }
    return summary;
  }

  /** Creates a seed (a random one when none is given) bound to an active account if there is one. Idempotent. */
  async createSeed(seed?: string): Promise<string> {
    const value = seed?.trim() || randomBytes(18).toString('base64url');
    if (parseCredential(value) || secretInList(value, this.config.authorization)) {
      throw ApiError.invalidRequest('A seed must not be an AccessToken, a RefreshToken or a pool key.', 'invalid_seed', 'seed');
    }
    const account = await this.pick(new Set());
    const now = this.clock.now();
    await this.store.updateSeed(value, (current) => (current ? undefined : { seed: value, accountId: account?.id ?? null, conversations: [], createdAt: now }));
    return value;
  }

  removeSeed(seed: string): Promise<boolean> {
    return this.store.removeSeed(seed);
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
      .map((record) => ({ id: seedIdFor(record.seed), maskedSeed: maskSecret(record.seed), accountId: record.accountId, conversations: record.conversations.length }));
  }

  /** Remembers that a seed created a conversation (newest first), for per-seed ownership (gateway.md §4.4). */
  async recordSeedConversation(seed: string, conversationId: string): Promise<void> {
    await this.store.updateSeed(seed, (current: SeedRecord | null) =>
      current ? { ...current, conversations: [conversationId, ...current.conversations.filter((id) => id !== conversationId)] } : undefined,
    );
  }

  /** The conversations a seed created, newest first; empty for an unknown seed. */
  async seedConversations(seed: string): Promise<string[]> {
    return (await this.store.getSeed(seed))?.conversations ?? [];
  }

  private isActive(record: AccountRecord): boolean {
    return effectiveState(record, this.clock.now()) === 'active';
  }

  /**
   * Chooses among active accounts not in `exclude` (random, or strict round-robin on the shared cursor).
   * With none active, RefreshToken accounts whose refresh is pending are tried, since a lease renews them.
   */
  private async pick(exclude: ReadonlySet<string>): Promise<AccountRecord | null> {
    const now = this.clock.now();
    const accounts = (await this.store.listAccounts()).filter((record) => !exclude.has(record.id));
    let candidates = accounts.filter((record) => effectiveState(record, now) === 'active');
    if (candidates.length === 0) candidates = accounts.filter((record) => record.kind === 'refresh_token' && record.state === 'expired');
    if (candidates.length === 0) return null;
    if (this.config.randomToken) return candidates[randomInt(candidates.length)];
    return candidates[((await this.store.nextCursor()) - 1) % candidates.length];
  }

  /** Makes a picked account usable: ends a past rate limit, notices a dead AccessToken, renews a RefreshToken account. */
  private async prepare(account: AccountRecord): Promise<AccountLease | null> {
    const now = this.clock.now();
    if (accessTokenDead(account, now)) {
      await this.setState(account.id, 'expired', 'access token expired');
      return null;
    }
    let record: AccountRecord | null = account;
    if (record.state === 'rate_limited') {
      record = await this.store.updateAccount(account.id, (current) =>
        current.state === 'rate_limited' && (current.rateLimitedUntil ?? 0) <= now ? { ...current, state: 'active', rateLimitedUntil: undefined, stateReason: undefined } : undefined,
      );
      if (!record || effectiveState(record, now) !== 'active') return null;
    }
    if (needsRefresh(record, now)) {
      const outcome = await this.renew(record, false);
      if (outcome !== 'refreshed' && outcome !== 'current') return null;
      record = await this.store.getAccount(account.id);
      if (!record || effectiveState(record, now) !== 'active') return null;
    }
    if (!record.accessToken) return null;
    return { accountId: record.id, accessToken: record.accessToken, ...(record.chatgptAccountId ? { chatgptAccountId: record.chatgptAccountId } : {}) };
  }

  /**
   * Exchanges a RefreshToken account's token under a per-account store lock, so that instances never
   * spend one (possibly rotating) RefreshToken twice. `seen` is the record as the caller knew it: if
   * another holder of the lock renewed it meanwhile, that result is used instead of a second exchange.
   */
  private async renew(seen: AccountRecord, force: boolean): Promise<RenewOutcome> {
    const locked = await this.store.withLock(
      `account-refresh:${seen.id}`,
      LOCK_TTL_MS,
      async (): Promise<RenewOutcome> => {
        const now = this.clock.now();
        const record = await this.store.getAccount(seen.id);
        if (!record || record.kind !== 'refresh_token' || record.state === 'disabled') return 'not_applicable';
        const renewedMeanwhile = record.accessToken !== seen.accessToken && !needsRefresh(record, now);
        if (force ? renewedMeanwhile : !needsRefresh(record, now)) return 'current';
        return this.exchangeFor(record, force || record.state === 'expired');
      },
      { waitMs: LOCK_WAIT_MS },
    );
    return locked.acquired ? locked.value : 'failed';
  }

  private async exchangeFor(record: AccountRecord, force: boolean): Promise<RenewOutcome> {
    const now = this.clock.now();
    try {
      const result = await this.exchanger.exchange(record.token, { force });
      await this.store.updateAccount(record.id, (current) => {
        if (current.state === 'disabled') return undefined;
        const stillLimited = current.state === 'rate_limited';
        return {
          ...current,
          ...dropUndefined(accessTokenFields(result.accessToken)),
          accessTokenExpiresAt: result.expiresAt,
          token: result.refreshToken ?? current.token,
          state: stillLimited ? 'rate_limited' : 'active',
          stateReason: stillLimited ? current.stateReason : undefined,
          failures: 0,
          lastRefreshAt: now,
        };
      });
      return 'refreshed';
    } catch (error) {
      if (error instanceof RefreshTokenRejectedError) {
        await this.setState(record.id, 'disabled', `refresh token rejected (${error.code})`);
        return 'disabled';
      }
      const reason = error instanceof AuthServerUnavailableError ? error.message : `unexpected error: ${(error as Error).message}`;
      this.logger.warn(`Refresh of account ${record.id} (${maskSecret(record.token)}) failed: ${reason}`);
      await this.store.updateAccount(record.id, (current) => ({ ...current, failures: current.failures + 1 }));
      return 'failed';
    }
  }

  private async setState(id: string, state: 'expired' | 'disabled', reason: string): Promise<void> {
    const updated = await this.store.updateAccount(id, (current) => {
      if (current.state === 'disabled' || (current.state === state && current.stateReason === reason)) return undefined;
      return { ...current, state, stateReason: reason, ...(state === 'disabled' ? { failures: current.failures + 1 } : {}) };
    });
    if (updated?.state === state && updated.stateReason === reason) this.logger.warn(`Account ${id} (${maskSecret(updated.token)}) ${state}: ${reason}`);
  }

  private view(record: AccountRecord, now: number): AccountView {
    const state: AccountState = effectiveState(record, now);
    const stateReason = state === record.state ? record.stateReason : state === 'expired' ? 'access token expired' : undefined;
    return dropUndefined({
      id: record.id,
      kind: record.kind,
      maskedToken: maskSecret(record.token),
      state,
      stateReason,
      rateLimitedUntil: state === 'rate_limited' ? record.rateLimitedUntil : undefined,
      plan: record.plan,
      email: record.email,
      chatgptAccountId: record.chatgptAccountId,
      accessTokenExpiresAt: record.accessTokenExpiresAt,
      addedAt: record.addedAt,
      lastUsedAt: record.lastUsedAt,
      lastRefreshAt: record.lastRefreshAt,
      failures: record.failures,
    });
  }
}

/** Runs `task` over `items` with at most `limit` running at once. */
async function forEachLimited<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
}

/** A seed's public id: a short hash, like account ids, so it can appear in URLs and pages. */
export function seedIdFor(seed: string): string {
  return `seed-${createHash('sha256').update('flowgpt-seed:').update(seed).digest('base64url').slice(0, 12)}`;
}
