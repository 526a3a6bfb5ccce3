import { Inject, Injectable, Logger } from '@nestjs/common';
import { BackgroundWork } from '../common/lifecycle/background-work';
import { maskSecret } from '../common/util/secrets';
import { Clock } from '../common/vocabulary/clock';
import { AppConfig } from '../config/app-config';
import { accessTokenFields, dropUndefined, isRenewable, needsRefresh, REFRESH_BACKOFF_MS, refreshBackingOff } from './account-record';
import { LOCK_TTL_MS, LOCK_WAIT_MS, setAccountState } from './account-transitions';
import type { AccountRecord, RefreshSummary } from './pool.types';
import { AuthServerUnavailableError, RefreshTokenExchanger, RefreshTokenRejectedError } from './refresh-token.exchanger';
import { SessionTokenExchanger, SessionTokenRejectedError } from './session-token.exchanger';
import { ACCOUNT_STORE, type AccountStore, type LockResult } from './stores/account-store';
import { retryWhileStoreDown } from './stores/store-retry';

/** A new AccessToken for an account; `rotatedTo` is the credential's new value when the upstream rotated it. */
interface RenewedCredential {
  accessToken: string;
  expiresAt: number;
  rotatedTo?: string;
}

/** What one attempt to renew an account's AccessToken came to. */
export type RenewOutcome = 'refreshed' | 'current' | 'disabled' | 'failed' | 'not_applicable';

/**
 * AccessToken renewal for pool accounts (gateway.md §8.3) that can renew: RefreshToken accounts (the auth server's
 * exchange) and SessionToken accounts (`/api/auth/session`). One account on demand (a lease, a refused
 * AccessToken), or the whole pool (the admin, the scheduled job). Exchanges happen under a per-account store
 * lock, so that instances sharing the store never spend one (possibly rotating) credential twice; a rotated
 * RefreshToken or SessionToken replaces the old one in the record.
 */
@Injectable()
export class PoolRefresher {
  private readonly logger = new Logger(PoolRefresher.name);

  constructor(
    @Inject(ACCOUNT_STORE) private readonly store: AccountStore,
    private readonly exchanger: RefreshTokenExchanger,
    private readonly sessions: SessionTokenExchanger,
    private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly background: BackgroundWork,
  ) {}

  /**
   * Renews RefreshToken and SessionToken accounts, at most `REFRESH_CONCURRENCY` at a time. Not forced: only those
   * whose AccessToken is missing, expired or close to expiry. Forced: every such account not disabled. Once the
   * server is shutting down it starts no further renewal (those left count as skipped).
   */
  async refresh(options: { id?: string; force?: boolean } = {}): Promise<RefreshSummary> {
    const force = options.force ?? false;
    const now = this.clock.now();
    const accounts = options.id
      ? [await this.store.getAccount(options.id)].filter((record): record is AccountRecord => record !== null)
      : await this.store.listAccounts();
    const due = accounts.filter(
      (record) => isRenewable(record.kind) && record.state !== 'disabled' && (force || needsRefresh(record, now)),
    );
    const summary: RefreshSummary = { attempted: 0, refreshed: 0, failed: 0, disabled: 0, skipped: accounts.length - due.length };
    await forEachLimited(due, this.config.refreshConcurrency, async (record) => {
      const outcome = this.background.accepting ? await this.renewForJob(record, force) : 'not_applicable';
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

  /**
   * Renews one RefreshToken or SessionToken account. `seen` is the record as the caller knew it: if another holder of the
   * lock renewed it meanwhile, that result is used instead of a second exchange. `force` renews even an
   * AccessToken that still looks current (the upstream refused it). A shutdown waits for it: the auth server may
   * spend the RefreshToken it sends, and only the stored answer holds the new one.
   */
  renew(seen: AccountRecord, force: boolean): Promise<RenewOutcome> {
    return this.background.track(() => this.renewUnderLock(seen, force));
  }

  /**
   * `renew` for one account of a whole-pool refresh: a failure that is not the credential's (the store did not answer for
   * a moment) counts as failed for this account, and the others are still renewed, the job still gets its summary.
   */
  private async renewForJob(record: AccountRecord, force: boolean): Promise<RenewOutcome> {
    try {
      return await this.renew(record, force);
    } catch (error) {
      this.logger.warn(`Refresh of account ${record.id} (${maskSecret(record.token)}) failed: ${(error as Error).message}`);
      return 'failed';
    }
  }

  private async renewUnderLock(seen: AccountRecord, force: boolean): Promise<RenewOutcome> {
    const locked = await this.store.withLock(
      `account-refresh:${seen.id}`,
      LOCK_TTL_MS,
      async (): Promise<RenewOutcome> => {
        const now = this.clock.now();
        const record = await this.store.getAccount(seen.id);
        if (!record || !isRenewable(record.kind) || record.state === 'disabled') return 'not_applicable';
        const renewedMeanwhile = record.accessToken !== seen.accessToken && !needsRefresh(record, now);
        if (force ? renewedMeanwhile : !needsRefresh(record, now)) return 'current';
        // The exchange just failed (in this or another request): not again before the back-off ends.
        if (!force && refreshBackingOff(record, now)) return 'failed';
        return this.exchangeFor(record, force || record.state === 'expired');
      },
      { waitMs: LOCK_WAIT_MS },
    );
    return locked.acquired ? locked.value : 'failed';
  }

  /**
   * Runs a refresh job (`run`) while holding the store lock `job`, so that instances sharing the store never
   * run it at once. `{acquired: false}` without running it when another instance holds the lock.
   */
  exclusively<T>(job: string, ttlMs: number, run: () => Promise<T>): Promise<LockResult<T>> {
    return this.store.withLock(job, ttlMs, run);
  }

  /** What a refresh job recorded under `key` in the shared store (for example its last run), or null. */
  jobRecord(key: string): Promise<string | null> {
    return this.store.getMeta(key);
  }

  recordJob(key: string, value: string): Promise<void> {
    return this.store.setMeta(key, value);
  }

  private async exchangeFor(record: AccountRecord, force: boolean): Promise<RenewOutcome> {
    const now = this.clock.now();
    let renewed: RenewedCredential;
    try {
      renewed = await this.exchangeCredential(record, force);
    } catch (error) {
      return this.exchangeFailed(record, error);
    }
    await this.storeRenewal(record, renewed, now);
    return 'refreshed';
  }

  /**
   * A rotated credential is spent: the record must not keep the old value because the store did not answer for a
   * moment. When it stays away, the exchanger's link still leads this process from the old value to the new one; the
   * link reaches the store as soon as it answers (so that other instances follow it too), and the next renewal stores it.
   */
  private async storeRenewal(record: AccountRecord, renewed: RenewedCredential, now: number): Promise<void> {
    const renew = (current: AccountRecord): AccountRecord | undefined => {
      if (current.state === 'disabled') return undefined;
      // A limit that still runs stays, also on an account a 401 left expired while it was limited (a request in flight).
      const stillLimited = current.state === 'rate_limited' || (current.rateLimitedUntil ?? 0) > now;
      return {
        ...current,
        ...dropUndefined(accessTokenFields(renewed.accessToken, current.chatgptAccountId)),
        accessTokenExpiresAt: renewed.expiresAt,
        token: renewed.rotatedTo ?? current.token,
        state: stillLimited ? 'rate_limited' : 'active',
        stateReason: stillLimited ? (current.state === 'rate_limited' ? current.stateReason : 'upstream rate limit') : undefined,
        failures: 0,
        lastRefreshAt: now,
        refreshRetryAt: undefined,
        refreshFailures: undefined,
      };
    };
    try {
      await retryWhileStoreDown(() => this.store.updateAccount(record.id, renew), this.clock);
    } catch (error) {
      if (renewed.rotatedTo) {
        this.logger.warn(
          `Account ${record.id} was renewed, but the store did not take its new credential ${maskSecret(renewed.rotatedTo)}: its link from the old one is written as soon as the store answers, and a later renewal stores it`,
        );
      }
      throw error;
    }
  }

  private async exchangeFailed(record: AccountRecord, error: unknown): Promise<RenewOutcome> {
    if (error instanceof RefreshTokenRejectedError) {
      await setAccountState(this.store, this.logger, record.id, 'disabled', `refresh token rejected (${error.code})`);
      return 'disabled';
    }
    if (error instanceof SessionTokenRejectedError) {
      await setAccountState(
        this.store,
        this.logger,
        record.id,
        'disabled',
        `session token rejected: signed out or expired (HTTP ${error.status}); upload a new one`,
      );
      return 'disabled';
    }
    const reason = error instanceof AuthServerUnavailableError ? error.message : `unexpected error: ${(error as Error).message}`;
    const updated = await this.store.updateAccount(record.id, (current) => {
      const refreshFailures = (current.refreshFailures ?? 0) + 1;
      const backOff = REFRESH_BACKOFF_MS[Math.min(refreshFailures, REFRESH_BACKOFF_MS.length) - 1];
      return { ...current, failures: current.failures + 1, refreshFailures, refreshRetryAt: this.clock.now() + backOff };
    });
    const retryAt = updated?.refreshRetryAt ? ` (leases try again from ${new Date(updated.refreshRetryAt).toISOString()})` : '';
    this.logger.warn(`Refresh of account ${record.id} (${maskSecret(record.token)}) failed: ${reason}${retryAt}`);
    return 'failed';
  }

  /** The exchange of the account's kind. */
  private async exchangeCredential(record: AccountRecord, force: boolean): Promise<RenewedCredential> {
    if (record.kind === 'session_token') {
      const { sessionToken, ...result } = await this.sessions.exchange(record.token, { fingerprintKey: record.id, force });
      return { ...result, rotatedTo: sessionToken };
    }
    const { refreshToken, ...result } = await this.exchanger.exchange(record.token, { force });
    return { ...result, rotatedTo: refreshToken };
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
