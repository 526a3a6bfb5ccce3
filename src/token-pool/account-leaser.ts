import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomInt } from 'node:crypto';
import { maskSecret } from '../common/util/secrets';
import type { AccountOutcome } from '../common/vocabulary/account-outcome';
import { Clock } from '../common/vocabulary/clock';
import type { PlanTier } from '../common/vocabulary/plan-tier';
import { AppConfig } from '../config/app-config';
import {
  accessTokenDead,
  effectiveState,
  isRenewable,
  leasableNow,
  liveAccessToken,
  needsRefresh,
  refreshBackingOff,
} from './account-record';
import { planMayServe, planTierOf, withLearnedPlan } from './account-plan';
import { setAccountState } from './account-transitions';
import { PoolRefresher } from './pool-refresher';
import type { AccountLease, AccountRecord } from './pool.types';
import { ACCOUNT_STORE, type AccountStore } from './stores/account-store';

/** Consecutive rate limits without a reset hint keep an account out for 1 min, then 5 min, then 30 min. */
export const RATE_LIMIT_BACKOFF_MS = [60_000, 5 * 60_000, 30 * 60_000] as const;
/**
 * How far behind a success may leave `lastUsedAt` (the dashboard says "just now" for a minute): a success that
 * would change nothing else is not written, so that the many requests of a busy account do not all contend to
 * rewrite its record.
 */
export const LAST_USED_RESOLUTION_MS = 10_000;

/**
 * Which pool account a request uses, and what the upstream's verdict on it does to the account (gateway.md §8,
 * issue 4). All state lives in the `AccountStore`, so several instances on one Redis share it.
 */
@Injectable()
export class AccountLeaser {
  private readonly logger = new Logger(AccountLeaser.name);

  constructor(
    @Inject(ACCOUNT_STORE) private readonly store: AccountStore,
    private readonly refresher: PoolRefresher,
    private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {}

  /**
   * An account for a pool-key request, never one in `exclude` (those this request already tried); for a `paidOnly`
   * model one whose plan may serve it first (`pick`). RefreshToken and SessionToken accounts get a fresh AccessToken
   * first. Null when no account is available (503).
   */
  async lease(options: { exclude?: ReadonlySet<string>; paidOnly?: boolean } = {}): Promise<AccountLease | null> {
    const tried = new Set(options.exclude);
    for (;;) {
      const account = await this.pick(tried, options.paidOnly);
      if (!account) return null;
      const lease = await this.prepare(account);
      if (lease) return lease;
      tried.add(account.id);
    }
  }

  /**
   * A lease on one given account (a seed's), when it is active and not in `exclude`. Without a lease,
   * `stillActive` says whether the account is active all the same (only this request must go elsewhere).
   */
  async leaseAccount(
    id: string,
    options: { exclude?: ReadonlySet<string> } = {},
  ): Promise<{ lease: AccountLease } | { lease: null; stillActive: boolean }> {
    let account = await this.store.getAccount(id);
    if (account && this.isActive(account) && !options.exclude?.has(id)) {
      const lease = await this.prepare(account);
      if (lease) return { lease };
      account = await this.store.getAccount(id);
    }
    return { lease: null, stillActive: account !== null && this.isActive(account) };
  }

  /**
   * One given account's AccessToken, for a follow-up on something it made (opening a file it generated).
   * A rate limit does not stop it (the limit is on conversations); null once the account is disabled, removed
   * or unusable.
   */
  async leaseForFollowUp(id: string): Promise<AccountLease | null> {
    const account = await this.store.getAccount(id);
    if (!account || account.state === 'disabled') return null;
    return this.prepare(account, { rateLimitServes: true });
  }

  /**
   * Chooses among active accounts not in `exclude` (random, or strict round-robin on the shared cursor), and
   * RefreshToken and SessionToken accounts left expired by a renewal whose back-off has ended, since a lease renews
   * them. With none of those, any whose refresh is pending is tried. For a `paidOnly` model, accounts whose plan may
   * serve it (`planMayServe`: paid or unknown) come first, ready or pending; one known to be free only when no other
   * is left, since its plan may have changed (and a pool of free accounts answers the model's 404 as before).
   */
  async pick(exclude: ReadonlySet<string>, paidOnly = false): Promise<AccountRecord | null> {
    const now = this.clock.now();
    const accounts = (await this.store.listAccounts()).filter((record) => !exclude.has(record.id));
    const ready = accounts.filter(
      (record) => (effectiveState(record, now) === 'active' || renewalDueAgain(record, now)) && leasableNow(record, now),
    );
    const pending = accounts.filter((record) => isRenewable(record.kind) && record.state === 'expired' && leasableNow(record, now));
    const fitting = (records: AccountRecord[]) => records.filter((record) => planMayServe(record, paidOnly));
    const candidates = [fitting(ready), fitting(pending), ready, pending].find((group) => group.length > 0);
    if (!candidates) return null;
    if (this.config.randomToken) return candidates[randomInt(candidates.length)];
    return candidates[((await this.store.nextCursor()) - 1) % candidates.length];
  }

  /** What the upstream said about a leased account. */
  async report(accountId: string, outcome: AccountOutcome): Promise<void> {
    const now = this.clock.now();
    switch (outcome.kind) {
      case 'success':
        await this.store.updateAccount(accountId, (current) => {
          // A success that was under way when a rate limit hit neither lifts it early nor forgives its strikes (the next
          // limit would back off 1 min again instead of growing).
          const limitOver = current.state === 'rate_limited' && (current.rateLimitedUntil ?? 0) <= now;
          const limitRuns = current.state === 'rate_limited' && !limitOver;
          const strikes = limitRuns ? current.rateLimitStrikes : 0;
          const usedLately = current.lastUsedAt !== undefined && now - current.lastUsedAt < LAST_USED_RESOLUTION_MS;
          if (!limitOver && usedLately && current.rateLimitStrikes === strikes && current.failures === 0) return undefined;
          return {
            ...current,
            rateLimitStrikes: strikes,
            failures: 0,
            lastUsedAt: now,
            ...(limitOver ? { state: 'active' as const, rateLimitedUntil: undefined, stateReason: undefined } : {}),
          };
        });
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
          this.logger.warn(
            `Account ${accountId} (${maskSecret(updated.token)}) rate limited until ${new Date(updated.rateLimitedUntil ?? now).toISOString()}`,
          );
        }
        return;
      }
      case 'unauthorized': {
        const refused = outcome.accessToken;
        const stillCurrent = (record: AccountRecord) => refused === undefined || record.accessToken === refused;
        const account = await this.store.getAccount(accountId);
        if (!account || !stillCurrent(account)) return;
        if (account.kind === 'access_token') {
          // An admin may have uploaded a fresh AccessToken for it since the read: the refusal is of the old one.
          await setAccountState(this.store, this.logger, accountId, 'disabled', 'access token rejected', stillCurrent);
          return;
        }
        const marked = await this.store.updateAccount(accountId, (current) =>
          current.state === 'disabled' || !stillCurrent(current)
            ? undefined
            : { ...current, state: 'expired', stateReason: 'access token rejected; refresh pending', failures: current.failures + 1 },
        );
        if (!marked || !stillCurrent(marked)) return;
        // As the request saw it: a renewal by another holder of the lock since then is used, not repeated.
        await this.refresher.renew({ ...account, accessToken: refused ?? account.accessToken }, true);
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

  /**
   * What the upstream showed of the account's plan in workspace `chatgptAccountId` (its sentinel persona, a paid-only
   * model refused): stored with the account, so every instance chooses by it; no verdict on the account's health.
   * Written only when it changes, and only for the account's own workspace (a request may ask for another one).
   */
  async learnPlan(accountId: string, tier: PlanTier, chatgptAccountId: string | undefined): Promise<void> {
    let learnt = false;
    await this.store.updateAccount(accountId, (current) => {
      const next = current.chatgptAccountId === chatgptAccountId ? withLearnedPlan(current, tier) : undefined;
      learnt = next !== undefined;
      return next;
    });
    if (learnt) this.logger.log(`Account ${accountId} is on a ${tier} plan, as the upstream showed`);
  }

  private isActive(record: AccountRecord): boolean {
    return effectiveState(record, this.clock.now()) === 'active';
  }

  /**
   * Makes a picked account usable: ends a past rate limit, notices a dead AccessToken, renews a RefreshToken or SessionToken
   * account. `rateLimitServes`: a rate limit that still runs does not stop it (a follow-up), and a renewal keeps the limit.
   */
  private async prepare(account: AccountRecord, options: { rateLimitServes?: boolean } = {}): Promise<AccountLease | null> {
    const now = this.clock.now();
    const serves = (candidate: AccountRecord | null): candidate is AccountRecord => {
      const state = candidate && effectiveState(candidate, now);
      return state === 'active' || (state === 'rate_limited' && options.rateLimitServes === true);
    };
    if (accessTokenDead(account, now)) {
      await this.setState(account.id, 'expired', 'access token expired');
      return null;
    }
    let record: AccountRecord | null = account;
    if (record.state === 'rate_limited') {
      record = await this.store.updateAccount(account.id, (current) =>
        current.state === 'rate_limited' && (current.rateLimitedUntil ?? 0) <= now
          ? { ...current, state: 'active', rateLimitedUntil: undefined, stateReason: undefined }
          : undefined,
      );
      if (!serves(record)) return null;
    }
    if (needsRefresh(record, now)) {
      const outcome = refreshBackingOff(record, now) ? 'failed' : await this.refresher.renew(record, false);
      // The auth server is away: an AccessToken that still works serves until it comes back.
      const live = liveAccessToken(record, now);
      if (outcome === 'failed' && live) return leaseOf(record, live);
      if (outcome !== 'refreshed' && outcome !== 'current') return null;
      record = await this.store.getAccount(account.id);
      if (!serves(record)) return null;
    }
    if (!record.accessToken) return null;
    return leaseOf(record, record.accessToken);
  }

  private setState(id: string, state: 'expired' | 'disabled', reason: string): Promise<void> {
    return setAccountState(this.store, this.logger, id, state, reason);
  }
}

/**
 * An expired RefreshToken or SessionToken account whose renewal failed and whose back-off has ended: without a lease
 * to try again it would wait for the pool to run dry (the README's 1 min → 5 min → 30 min is a wait, not an end).
 */
function renewalDueAgain(record: AccountRecord, now: number): boolean {
  return isRenewable(record.kind) && record.state === 'expired' && record.refreshRetryAt !== undefined && !refreshBackingOff(record, now);
}

function leaseOf(record: AccountRecord, accessToken: string): AccountLease {
  return {
    accountId: record.id,
    accessToken,
    ...(record.chatgptAccountId ? { chatgptAccountId: record.chatgptAccountId } : {}),
    ...(record.kind === 'session_token' ? { sessionToken: record.token } : {}),
    ...(record.plan !== undefined ? { planTier: planTierOf(record.plan) } : {}),
  };
}
