import { Injectable } from '@nestjs/common';
import { nounFor, pluralise } from '../common/util/pluralise';
import { maskSecret } from '../common/util/secrets';
import type { AccountCounts, AccountView, RefreshSummary, SeedView, UploadResult } from '../token-pool/pool.types';
import { Clock } from '../common/vocabulary/clock';
import { PoolAdmin } from '../token-pool/pool-admin';
import { PoolReadModel } from '../token-pool/pool-read-model';
import { PoolRefresher } from '../token-pool/pool-refresher';
import { SeedRegistry } from '../token-pool/seed-registry';
import type { Flash } from './admin-session.store';

export interface AccountRow extends AccountView {
  kindLabel: string;
  stateLabel: string;
  canRestore: boolean;
  canRefresh: boolean;
}

export interface DashboardModel {
  counts: AccountCounts;
  accounts: AccountRow[];
  seeds: SeedView[];
  now: number;
}

const KIND_LABELS: Record<AccountView['kind'], string> = {
  access_token: 'Access token',
  refresh_token: 'Refresh token',
  session_token: 'Session token',
};

const STATE_LABELS: Record<AccountView['state'], string> = {
  active: 'Active',
  rate_limited: 'Rate limited',
  expired: 'Expired',
  disabled: 'Disabled',
};

/** What the dashboard shows, and its form actions, each summed up in one flash message. */
@Injectable()
export class AdminDashboardService {
  constructor(
    private readonly readModel: PoolReadModel,
    private readonly accounts: PoolAdmin,
    private readonly refresher: PoolRefresher,
    private readonly seeds: SeedRegistry,
    private readonly clock: Clock,
  ) {}

  async model(): Promise<DashboardModel> {
    const [counts, accounts, seeds] = await Promise.all([this.readModel.counts(), this.readModel.list(), this.seeds.listSeeds()]);
    return { counts, accounts: accounts.map(toRow), seeds, now: this.clock.now() };
  }

  async upload(text: string | undefined): Promise<Flash> {
    const lines = (text ?? '').split(/\r?\n/);
    if (!lines.some((line) => line.trim() && !line.trim().startsWith('#')))
      return { kind: 'error', text: 'Nothing to upload: paste one token a line.' };
    const result = await this.accounts.upload(lines);
    return { kind: result.added > 0 ? 'success' : 'error', text: uploadSummary(result) };
  }

  async remove(id: string): Promise<Flash> {
    return (await this.accounts.remove(id)) ? { kind: 'success', text: `Removed account ${id}.` } : unknownAccount(id);
  }

  async restore(id: string): Promise<Flash> {
    if (!(await this.accounts.restore(id))) return unknownAccount(id);
    const state = (await this.readModel.findView(id))?.state;
    return { kind: 'success', text: `Restored account ${id}${state ? `: now ${STATE_LABELS[state].toLowerCase()}` : ''}.` };
  }

  async refreshOne(id: string): Promise<Flash> {
    if (!(await this.readModel.findView(id))) return unknownAccount(id);
    const summary = await this.refresher.refresh({ id, force: true });
    if (summary.refreshed) return { kind: 'success', text: `Refreshed account ${id}.` };
    if (summary.disabled) return { kind: 'error', text: `The refresh token of account ${id} was rejected: the account is now disabled.` };
    if (summary.failed) return { kind: 'error', text: `Refreshing account ${id} failed; it will be retried. See the server log.` };
    return { kind: 'error', text: `Account ${id} has nothing to refresh (only refresh-token accounts that are not disabled can be).` };
  }

  async refreshAll(): Promise<Flash> {
    const summary = await this.refresher.refresh({ force: true });
    return { kind: summary.failed || summary.disabled ? 'error' : 'success', text: refreshSummary(summary) };
  }

  async clear(): Promise<Flash> {
    const removed = await this.accounts.clear();
    return { kind: 'success', text: `Removed all accounts (${removed}).` };
  }

  /** The new seed is shown this once, so that the admin can hand it to its user; lists only show it masked. */
  async createSeed(seed: string | undefined): Promise<Flash> {
    const created = await this.seeds.createSeed(seed);
    return { kind: 'success', text: `Seed ready: ${created}. Give it to its user now; it will only be shown masked from here on.` };
  }

  async removeSeedById(id: string): Promise<Flash> {
    return (await this.seeds.removeSeedById(id))
      ? { kind: 'success', text: 'Removed the seed.' }
      : { kind: 'error', text: 'No such seed.' };
  }

  async clearSeeds(): Promise<Flash> {
    const removed = await this.seeds.clearSeeds();
    return { kind: 'success', text: `Removed ${pluralise(removed, 'seed')}.` };
  }

  async removeSeed(seed: string | undefined): Promise<Flash> {
    const value = seed?.trim();
    if (!value) return { kind: 'error', text: 'Type the seed to remove.' };
    return (await this.seeds.removeSeed(value))
      ? { kind: 'success', text: `Removed seed ${maskSecret(value)}.` }
      : { kind: 'error', text: `No seed ${maskSecret(value)}.` };
  }
}

export function uploadSummary(result: UploadResult): string {
  const lines = result.invalidLines.length ? ` (${nounFor(result.invalidLines.length, 'line')} ${result.invalidLines.join(', ')})` : '';
  return `Added ${result.added}, ${pluralise(result.duplicates, 'duplicate')}, ${result.invalid} invalid${lines}.`;
}

export function refreshSummary(summary: RefreshSummary): string {
  return `Refresh: ${summary.refreshed} refreshed, ${summary.failed} failed, ${summary.disabled} disabled, ${summary.skipped} skipped.`;
}

function unknownAccount(id: string): Flash {
  return { kind: 'error', text: `No account ${id}: it may have been removed already.` };
}

function toRow(account: AccountView): AccountRow {
  return {
    ...account,
    kindLabel: KIND_LABELS[account.kind],
    stateLabel: STATE_LABELS[account.state],
    canRestore: account.state === 'disabled',
    canRefresh: account.kind !== 'access_token' && account.state !== 'disabled',
  };
}
