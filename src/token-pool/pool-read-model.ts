import { Inject, Injectable } from '@nestjs/common';
import { maskSecret } from '../common/util/secrets';
import { Clock } from '../common/vocabulary/clock';
import { isWorkspaceId } from '../common/vocabulary/team-account';
import { dropUndefined, effectiveState, inService, isRenewable } from './account-record';
import type { AccountCounts, AccountRecord, AccountState, AccountView, PoolReadiness } from './pool.types';
import { ACCOUNT_STORE, type AccountStore } from './stores/account-store';

/**
 * The pool as the admin pages, `/metrics`, `/readyz` and the gateway's open WebSocket bridges see it: masked account
 * views, counts and states, read only.
 */
@Injectable()
export class PoolReadModel {
  constructor(
    @Inject(ACCOUNT_STORE) private readonly store: AccountStore,
    private readonly clock: Clock,
  ) {}

  async list(): Promise<AccountView[]> {
    const now = this.clock.now();
    return (await this.store.listAccounts()).map((record) => accountView(record, now));
  }

  /** One account's view, or null when there is no such account; reads that account only. */
  async findView(id: string): Promise<AccountView | null> {
    const record = await this.store.getAccount(id);
    return record && accountView(record, this.clock.now());
  }

  /**
   * Whether the account is still in the pool and in service (active or rate limited), or a RefreshToken or SessionToken
   * account left expired by a renewal that failed for now (the auth server away), which a lease renews after the
   * back-off; reads that account only, leases nothing.
   */
  async accountInService(id: string): Promise<boolean> {
    const record = await this.store.getAccount(id);
    if (record === null) return false;
    return inService(record, this.clock.now()) || (isRenewable(record.kind) && record.state !== 'disabled');
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
    const [accounts, seeds] = await Promise.all([this.counts(), this.store.countSeeds()]);
    return { store: this.store.kind, accounts, seeds };
  }
}

/** An account as the admin sees it: its state as of `now`, never the raw credential. */
function accountView(record: AccountRecord, now: number): AccountView {
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
    chatgptAccountId: shownWorkspaceId(record.chatgptAccountId),
    accessTokenExpiresAt: record.accessTokenExpiresAt,
    addedAt: record.addedAt,
    lastUsedAt: record.lastUsedAt,
    lastRefreshAt: record.lastRefreshAt,
    failures: record.failures,
  });
}

/**
 * A workspace id is shown in full (see `isWorkspaceId`). A record stored before ids had to be UUIDs may hold
 * anything after the comma, such as a second token: that is masked like one.
 */
function shownWorkspaceId(id: string | undefined): string | undefined {
  return id === undefined || isWorkspaceId(id) ? id : maskSecret(id);
}
