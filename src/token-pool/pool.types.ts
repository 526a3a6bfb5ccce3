import type { PlanTier } from '../common/vocabulary/plan-tier';
import { parseCredential, type TokenKind } from './token-kind';

/**
 * Explicit account states (gateway.md §8, issue 4):
 * - active: may be leased;
 * - rate_limited: skipped until `rateLimitedUntil`, then active again;
 * - expired: its AccessToken is dead and a refresh is pending (RefreshToken and SessionToken accounts), or it has no way to renew (AccessToken accounts);
 * - disabled: invalid grant, session ended, deactivated or banned; never used until an admin restores it.
 */
export type AccountState = 'active' | 'rate_limited' | 'expired' | 'disabled';

export interface AccountRecord {
  /** Stable id derived from the credential (not the credential itself), safe to show and use in URLs. */
  id: string;
  kind: TokenKind;
  /** The credential: an AccessToken, a RefreshToken or a SessionToken; the newest value once rotated. Secret. */
  token: string;
  /** Team workspace id, from the `token,account_id` form. */
  chatgptAccountId?: string;
  /** The AccessToken in use: the token itself for AccessToken accounts, the last exchange for RefreshToken and SessionToken accounts. Secret. */
  accessToken?: string;
  /** Milliseconds since the epoch; from the JWT's `exp`. */
  accessTokenExpiresAt?: number;
  state: AccountState;
  rateLimitedUntil?: number;
  /** Consecutive rate limits without a success in between: drives the 1 min → 5 min → 30 min back-off. */
  rateLimitStrikes: number;
  /** Consecutive failures of any kind. */
  failures: number;
  /** Why the account is expired or disabled, for the admin. */
  stateReason?: string;
  email?: string;
  /** Upstream user id from the JWT, used to drop duplicates of one account. */
  userId?: string;
  /**
   * The plan as last learnt: the AccessToken claims' plan name, or `free`/`paid` as the upstream showed it in use
   * (`account-plan.ts`). Decides which accounts a paid-only model goes to first; unknown when absent.
   */
  plan?: string;
  addedAt: number;
  lastUsedAt?: number;
  lastRefreshAt?: number;
  /**
   * After a refresh the auth server could not answer (down, stalled, 5xx, 429): no lease renews the account before this
   * time (ms since the epoch), so requests go to other accounts instead of waiting out the exchange again.
   */
  refreshRetryAt?: number;
  /** Refreshes in a row the auth server could not answer: the back-off grows with them. */
  refreshFailures?: number;
}

/** What the pool hands a request: everything needed to call the upstream as that account. */
export interface AccountLease {
  accountId: string;
  accessToken: string;
  chatgptAccountId?: string;
  /** The account's SessionToken (newest value), when it has one: the live page renders signed in only with it. Secret. */
  sessionToken?: string;
  /** The plan tier the pool knew when it handed the account out (`account-plan.ts`). */
  planTier?: PlanTier;
}

export interface UploadResult {
  added: number;
  /** Accounts out of service (expired, disabled) that took an uploaded AccessToken of their user and are back in service. */
  replaced: number;
  duplicates: number;
  invalid: number;
  /** Line numbers (from 1) of the invalid lines. */
  invalidLines: number[];
}

export interface AccountCounts {
  total: number;
  active: number;
  rate_limited: number;
  expired: number;
  disabled: number;
}

/** An account as shown to the admin: never the raw credential. */
export interface AccountView {
  id: string;
  kind: TokenKind;
  maskedToken: string;
  state: AccountState;
  stateReason?: string;
  rateLimitedUntil?: number;
  plan?: string;
  email?: string;
  chatgptAccountId?: string;
  accessTokenExpiresAt?: number;
  addedAt: number;
  lastUsedAt?: number;
  lastRefreshAt?: number;
  failures: number;
}

export interface SeedView {
  /** Stable, non-secret id of the seed (a hash), for admin actions. */
  id: string;
  maskedSeed: string;
  accountId: string | null;
  conversations: number;
}

/** What `/readyz` reports once the store has answered. */
export interface PoolReadiness {
  store: 'file' | 'redis';
  accounts: AccountCounts;
  seeds: number;
}

export interface RefreshSummary {
  attempted: number;
  refreshed: number;
  failed: number;
  disabled: number;
  skipped: number;
}

/** What a seed may be: a key a client sends in a header, visible ASCII, and long enough that nobody picks it by chance. */
export const SEED_SHAPE = /^[\x21-\x7e]{8,256}$/;

/**
 * Why `value` may not be a seed: `'secret'` for an upstream credential or a secret of this server (`isServerSecret`),
 * `'shape'` for one not of `SEED_SHAPE`; null when it may be one. The admin and the reference import read it alike.
 */
export function seedRefusal(value: string, isServerSecret: (value: string) => boolean): 'secret' | 'shape' | null {
  if (parseCredential(value) || isServerSecret(value)) return 'secret';
  return SEED_SHAPE.test(value) ? null : 'shape';
}

/**
 * How many conversations a seed keeps (newest activity first): past it the oldest is dropped, and the seed can no
 * longer open it through the gateway. It bounds each seed's record, which both stores rewrite whole on every new
 * conversation; the gateway's list reads no further back than the account's newest 2,000 conversations anyway.
 */
export const MAX_SEED_CONVERSATIONS = 1_000;

/**
 * How many file ids a seed keeps (its uploads, and the files its conversations received), newest first: past it the
 * oldest is dropped, and the seed can no longer fetch that file through the gateway.
 */
export const MAX_SEED_FILES = 5_000;

/** A SeedToken and the pool account it stands for (gateway.md §3.6, §4.4). */
export interface SeedRecord {
  /** The seed itself. Secret: it is a credential of the seed user. */
  seed: string;
  /** The pool account the seed is bound to; null until an account could be assigned. */
  accountId: string | null;
  /** Conversation ids this seed created, newest first. */
  conversations: string[];
  /** File ids this seed uploaded or its conversations received, newest first; none in records written before files were kept. */
  files?: string[];
  createdAt: number;
  /**
   * Who made it: the admin (API or dashboard), or a browser sign-in with `AUTO_SEED`. Only the admin's are API keys.
   * Records written before this was kept have none, and count as the admin's.
   */
  createdBy?: 'admin' | 'sign-in';
}
