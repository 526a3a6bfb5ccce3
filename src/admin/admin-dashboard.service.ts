import { Injectable } from '@nestjs/common';
import { ApiError } from '../common/errors/api-error';
import { maskSecret } from '../common/util/secrets';
import { textLines } from '../common/util/text-lines';
import { seedRefusal, type AccountCounts, type AccountView, type SeedView, type UploadResult } from '../token-pool/pool.types';
import { Clock } from '../common/vocabulary/clock';
import { PoolAdmin } from '../token-pool/pool-admin';
import { PoolReadModel } from '../token-pool/pool-read-model';
import { PoolRefresher } from '../token-pool/pool-refresher';
import { SeedRegistry } from '../token-pool/seed-registry';
import type { LocalText } from '../common/views/page-text';
import type { Flash } from './admin-session.store';

export interface AccountRow extends AccountView {
  canRestore: boolean;
  canRefresh: boolean;
}

/** Where the shown accounts sit in the pool, and the links to the pages around them (none when one page holds all). */
export interface AccountsPager {
  page: number;
  pages: number;
  /** More than one page: the links show. */
  paged: boolean;
  /** 1-based positions of the first and last account shown, and how many there are. */
  first: number;
  last: number;
  total: number;
  previousUrl?: string;
  nextUrl?: string;
}

export interface DashboardModel {
  counts: AccountCounts;
  /** One page of the accounts (`ACCOUNTS_PER_PAGE`): a row holds three forms, and a pool of thousands made a page of megabytes. */
  accounts: AccountRow[];
  pager: AccountsPager;
  seeds: SeedView[];
  now: number;
}

const ACCOUNTS_PER_PAGE = 100;

/** What the dashboard shows, and its form actions, each summed up in one flash message (a text of `PageText.flash`). */
@Injectable()
export class AdminDashboardService {
  constructor(
    private readonly readModel: PoolReadModel,
    private readonly accounts: PoolAdmin,
    private readonly refresher: PoolRefresher,
    private readonly seeds: SeedRegistry,
    private readonly clock: Clock,
  ) {}

  /** The dashboard at page `page` of the accounts (1-based); past the last page, the last. */
  async model(page = 1): Promise<DashboardModel> {
    const [counts, accounts, seeds] = await Promise.all([this.readModel.counts(), this.readModel.list(), this.seeds.listSeeds()]);
    const pages = Math.max(1, Math.ceil(accounts.length / ACCOUNTS_PER_PAGE));
    const current = Math.min(Math.max(1, page), pages);
    const start = (current - 1) * ACCOUNTS_PER_PAGE;
    const shown = accounts.slice(start, start + ACCOUNTS_PER_PAGE);
    const pager: AccountsPager = {
      page: current,
      pages,
      paged: pages > 1,
      first: shown.length ? start + 1 : 0,
      last: start + shown.length,
      total: accounts.length,
      previousUrl: current > 1 ? accountsPageUrl(current - 1) : undefined,
      nextUrl: current < pages ? accountsPageUrl(current + 1) : undefined,
    };
    return { counts, accounts: shown.map(toRow), pager, seeds, now: this.clock.now() };
  }

  async upload(text: string | undefined): Promise<Flash> {
    const lines = textLines(text ?? '');
    if (!lines.some((line) => line.trim() && !line.trim().startsWith('#'))) return { kind: 'error', key: 'flash.nothingToUpload' };
    const result = await this.accounts.upload(lines);
    return { kind: result.added + result.replaced > 0 ? 'success' : 'error', ...uploadSummary(result) };
  }

  async remove(id: string): Promise<Flash> {
    return (await this.accounts.remove(id)) ? { kind: 'success', key: 'flash.removed', params: { id } } : unknownAccount(id);
  }

  async restore(id: string): Promise<Flash> {
    if (!(await this.accounts.restore(id))) return unknownAccount(id);
    const state = (await this.readModel.findView(id))?.state;
    if (!state) return unknownAccount(id);
    return { kind: 'success', key: 'flash.restored', params: { id, state: { key: `states.${state}` } } };
  }

  async refreshOne(id: string): Promise<Flash> {
    if (!(await this.readModel.findView(id))) return unknownAccount(id);
    const summary = await this.refresher.refresh({ id, force: true });
    const outcome = summary.refreshed
      ? 'refreshed'
      : summary.disabled
        ? 'refreshRejected'
        : summary.failed
          ? 'refreshFailed'
          : 'nothingToRefresh';
    return { kind: outcome === 'refreshed' ? 'success' : 'error', key: `flash.${outcome}`, params: { id } };
  }

  async refreshAll(): Promise<Flash> {
    const summary = await this.refresher.refresh({ force: true });
    return { kind: summary.failed || summary.disabled ? 'error' : 'success', key: 'flash.refreshSummary', params: { ...summary } };
  }

  async clear(): Promise<Flash> {
    const removed = await this.accounts.clear();
    return { kind: 'success', key: 'flash.cleared', params: { count: removed } };
  }

  /** The new seed is shown this once, so that the admin can hand it to its user; lists only show it masked. */
  async createSeed(seed: string | undefined): Promise<Flash> {
    const value = seed?.trim() || undefined;
    // The registry refuses these too, in the API's English: the shape here, and a credential or secret below.
    const refusal = value === undefined ? null : seedRefusal(value, () => false);
    if (refusal) return { kind: 'error', key: refusal === 'shape' ? 'flash.seedShape' : 'flash.seedIsSecret' };
    try {
      const { seed: stored, created } = await this.seeds.createSeedReporting(value);
      // "Give it to its user now" would read as a new seed; one that was there all along is said to be.
      return { kind: 'success', key: created ? 'flash.seedReady' : 'flash.seedExisted', params: { seed: stored } };
    } catch (error) {
      if (error instanceof ApiError && error.body.error.code === 'invalid_seed') return { kind: 'error', key: 'flash.seedIsSecret' };
      throw error;
    }
  }

  async removeSeedById(id: string): Promise<Flash> {
    return (await this.seeds.removeSeedById(id))
      ? { kind: 'success', key: 'flash.seedRemoved' }
      : { kind: 'error', key: 'flash.noSuchSeed' };
  }

  async clearSeeds(): Promise<Flash> {
    const removed = await this.seeds.clearSeeds();
    return { kind: 'success', key: 'flash.seedsCleared', params: { count: removed } };
  }

  async removeSeed(seed: string | undefined): Promise<Flash> {
    const value = seed?.trim();
    if (!value) return { kind: 'error', key: 'flash.seedToRemoveMissing' };
    const params = { masked: maskSecret(value) };
    return (await this.seeds.removeSeed(value))
      ? { kind: 'success', key: 'flash.seedRemovedMasked', params }
      : { kind: 'error', key: 'flash.noSeedMasked', params };
  }
}

/** How many invalid line numbers a flash lists: it is kept in the session and shown on the page. */
const LISTED_INVALID_LINES = 20;

/**
 * `Added 2, 1 duplicate, 1 invalid (line 6).`, as a `flash.uploaded` text (naming the expired or disabled accounts that
 * took a new token, when there are any); past 20 line numbers, "and N more".
 */
export function uploadSummary(result: UploadResult): LocalText {
  const { added, replaced, duplicates, invalid, invalidLines } = result;
  const unlisted = invalidLines.length - LISTED_INVALID_LINES;
  const lines: LocalText | string = invalidLines.length
    ? {
        key: 'flash.invalidLines',
        params: {
          count: invalidLines.length,
          lines: invalidLines.slice(0, LISTED_INVALID_LINES).join(', '),
          more: unlisted > 0 ? { key: 'flash.moreLines', params: { count: unlisted } } : '',
        },
      }
    : '';
  if (replaced) return { key: 'flash.uploadedReplacing', params: { added, replaced, duplicates, invalid, lines } };
  return { key: 'flash.uploaded', params: { added, duplicates, invalid, lines } };
}

/** A page of the accounts, scrolled to them. */
function accountsPageUrl(page: number): string {
  return `${dashboardUrlFor(page)}#accounts`;
}

/**
 * Where a row's action sends the admin back: the page of accounts the row was on, at its top, where the flash
 * message shows the outcome.
 */
export function dashboardUrlFor(page: number): string {
  return page > 1 ? `/admin?page=${page}` : '/admin';
}

/**
 * A page number as a query or form field holds it: digits only, and at least 1. A huge one stays huge (`model` shows
 * the last page for it, as for any page past the last); anything else (absent, `abc`, `-1`, `1e3`) is the first page.
 */
export function pageNumber(text: unknown): number {
  return typeof text === 'string' && /^\d+$/.test(text) ? Math.min(Math.max(1, Number(text)), Number.MAX_SAFE_INTEGER) : 1;
}

function unknownAccount(id: string): Flash {
  return { kind: 'error', key: 'flash.noAccount', params: { id } };
}

function toRow(account: AccountView): AccountRow {
  return {
    ...account,
    canRestore: account.state === 'disabled',
    canRefresh: account.kind !== 'access_token' && account.state !== 'disabled',
  };
}
