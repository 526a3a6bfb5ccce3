import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { ApiError } from '../common/errors/api-error';
import { AccountLeaser } from '../token-pool/account-leaser';
import {
  AuthServerUnavailableError,
  type ExchangedAccessToken,
  RefreshTokenExchanger,
  RefreshTokenRejectedError,
} from '../token-pool/refresh-token.exchanger';
import type { AccountOutcome } from '../common/vocabulary/account-outcome';
import type { PlanTier } from '../common/vocabulary/plan-tier';
import type { AccountLease } from '../token-pool/pool.types';
import { SeedRegistry } from '../token-pool/seed-registry';
import { SessionTokenExchanger, SessionTokenRejectedError } from '../token-pool/session-token.exchanger';
import { credentialKey, directAccountKey } from './account-key';
import type { ApiCredential } from './api-credential';

/** The account one attempt runs as. */
export interface AccountUse {
  accessToken: string;
  chatgptAccountId?: string;
  /** The pool account, when the credential drew from the pool; outcomes are reported against it. */
  poolAccountId?: string;
  /**
   * Names the account, the same for every token of it, for what is kept per account (its browser fingerprint and
   * proxy, model caps, cookies) without exposing the token.
   */
  fingerprintKey: string;
  /** The account's SessionToken (newest value known), when it has one. Secret. */
  sessionToken?: string;
  /** The newest RefreshToken, when the one presented was rotated (and so is spent). Secret. */
  refreshToken?: string;
  /**
   * The caller's own RefreshToken or SessionToken (as presented) that `accessToken` was exchanged from: outcomes are
   * reported to its exchange. Secret.
   */
  exchangedFrom?: { kind: 'refresh_token' | 'session_token'; token: string };
  /** The pool account's plan tier as the pool knew it at the lease: what the attempt shows is stored only when it differs. */
  planTier?: PlanTier;
  /**
   * The request runs the pool account in a workspace other than its own (`ChatGPT-Account-ID`): what it shows of a plan
   * is that workspace's, not the account's, and is not learnt.
   */
  otherWorkspace?: true;
}

/** The choices of `CredentialService.acquire` beyond the credential and the accounts already tried. */
export interface AcquireOptions {
  /** The `ChatGPT-Account-ID` the client asked for, over the account's own. */
  teamOverride?: string;
  /** Names an own credential's account for its fingerprint instead of the credential itself (a browser session's hashed key). */
  ownerKey?: string;
  /**
   * Pins a pool-key request to this pool account (a continuation of a conversation it holds): null when that
   * account cannot be used, never another one.
   */
  preferredAccountId?: string;
  /** The model is paid-only: a rotating credential takes an account whose plan may serve it first. */
  paidOnly?: boolean;
  /**
   * The request continues an upstream conversation (`conversation_id`), which exists only on the account that made it:
   * a seed's runs on the seed's account first, even for a paid-only model while the pool thinks that account free.
   */
  continuesConversation?: boolean;
}

/** Turns an API credential into an account to call the upstream with, per attempt. */
@Injectable()
export class CredentialService {
  /** An AccessToken's account key, read from its claims once rather than on every request made with it. */
  private readonly accessTokenKeys = new LRUCache<string, string>({ max: 4096 });

  constructor(
    private readonly leaser: AccountLeaser,
    private readonly seeds: SeedRegistry,
    private readonly exchanger: RefreshTokenExchanger,
    private readonly sessions: SessionTokenExchanger,
  ) {}

  /** Whether another attempt may pick a different account. */
  rotates(credential: ApiCredential): boolean {
    return credential.kind === 'pool' || credential.kind === 'seed';
  }

  /**
   * The account for the next attempt; `tried` holds the pool accounts already used by this request.
   * Returns null when a rotating credential has no untried account left.
   */
  async acquire(credential: ApiCredential, tried: ReadonlySet<string>, options: AcquireOptions = {}): Promise<AccountUse | null> {
    const { teamOverride, ownerKey, preferredAccountId } = options;
    // Another workspace's plan is not the account's: the plan memory neither chooses for it nor learns from it.
    const paidOnly = options.paidOnly && !teamOverride;
    switch (credential.kind) {
      case 'pool':
        if (preferredAccountId) return useOfLease((await this.leaser.leaseAccount(preferredAccountId)).lease, teamOverride);
        return useOfLease(await this.leaser.lease({ exclude: tried, paidOnly }), teamOverride);
      case 'seed': {
        // Only a seed the admin created is a key: one removed since the guard checked it is not re-minted.
        const { continuesConversation } = options;
        const lease = await this.seeds.leaseForSeed(credential.seed, { exclude: tried, mustExist: true, paidOnly, continuesConversation });
        // Only a seed that exists gets here (`mustExist`): none is minted, so none is over the limit either.
        if (lease === 'invalid_seed' || lease === 'seed_limit') throw ApiError.of('seed_token_invalid', {});
        return useOfLease(lease, teamOverride);
      }
      case 'refresh_token': {
        const exchanged = await this.exchange(credential.token);
        return {
          accessToken: exchanged.accessToken,
          chatgptAccountId: teamOverride ?? credential.chatgptAccountId,
          fingerprintKey: ownerKey ?? directAccountKey(exchanged.accessToken, credential.token),
          ...(exchanged.refreshToken ? { refreshToken: exchanged.refreshToken } : {}),
          exchangedFrom: { kind: 'refresh_token', token: credential.token },
        };
      }
      case 'session_token': {
        // Its account is known only once it is exchanged, and the exchange runs as the account too: one browser for
        // both is the presented value's, which stays usable (and so the key stays put) however often next-auth rotates it.
        const fingerprintKey = ownerKey ?? credentialKey(credential.token);
        const exchanged = await this.exchangeSession(credential.token, fingerprintKey);
        return {
          accessToken: exchanged.accessToken,
          chatgptAccountId: teamOverride ?? credential.chatgptAccountId,
          fingerprintKey,
          sessionToken: exchanged.sessionToken ?? credential.token,
          exchangedFrom: { kind: 'session_token', token: credential.token },
        };
      }
      case 'access_token':
        return this.accessTokenAccount(credential.token, teamOverride ?? credential.chatgptAccountId);
    }
  }

  /** An account known only by its AccessToken (an API key, or the token a file link was made with). */
  accessTokenAccount(accessToken: string, chatgptAccountId: string | undefined): AccountUse {
    let fingerprintKey = this.accessTokenKeys.get(accessToken);
    if (fingerprintKey === undefined) {
      fingerprintKey = directAccountKey(accessToken);
      this.accessTokenKeys.set(accessToken, fingerprintKey);
    }
    return { accessToken, chatgptAccountId, fingerprintKey };
  }

  /** The pool account `accountId` again, for a later call on something it made; null when it is gone or unusable. */
  async poolAccount(accountId: string): Promise<AccountUse | null> {
    return useOfLease(await this.leaser.leaseForFollowUp(accountId), undefined);
  }

  /** What the upstream showed of the account's plan: the pool remembers it for a pool account. */
  async learnPlan(use: AccountUse, tier: PlanTier): Promise<void> {
    // Another workspace's plan is never the account's: asking the store would only read the account to learn nothing.
    if (use.poolAccountId && !use.otherWorkspace && use.planTier !== tier)
      await this.leaser.learnPlan(use.poolAccountId, tier, use.chatgptAccountId);
  }

  /**
   * What the upstream said about the account: the pool's business for a pool account. For the caller's own
   * RefreshToken or SessionToken, a 401 drops the AccessToken cached from it, so that a later request exchanges afresh.
   */
  async report(use: AccountUse, outcome: AccountOutcome): Promise<void> {
    if (use.poolAccountId) {
      await this.leaser.report(use.poolAccountId, outcome.kind === 'unauthorized' ? { ...outcome, accessToken: use.accessToken } : outcome);
      return;
    }
    if (!use.exchangedFrom) return;
    const { kind, token } = use.exchangedFrom;
    const exchange = kind === 'refresh_token' ? this.exchanger : this.sessions;
    if (outcome.kind === 'unauthorized') exchange.refused(token, use.accessToken);
    else if (outcome.kind === 'success') exchange.accepted(token);
  }

  private async exchange(refreshToken: string): Promise<ExchangedAccessToken> {
    try {
      return await this.exchanger.exchange(refreshToken);
    } catch (error) {
      if (error instanceof RefreshTokenRejectedError) throw ApiError.of('refresh_token_rejected', {});
      if (error instanceof AuthServerUnavailableError) {
        throw ApiError.of('auth_server_unavailable', {}, { upstream: { step: 'refresh' } });
      }
      throw error;
    }
  }

  /** The SessionToken's AccessToken (the key's fingerprint and proxy, so the session is seen from one browser). */
  private async exchangeSession(sessionToken: string, fingerprintKey: string) {
    try {
      return await this.sessions.exchange(sessionToken, { fingerprintKey });
    } catch (error) {
      if (error instanceof SessionTokenRejectedError) {
        throw ApiError.of('session_token_rejected', {});
      }
      if (error instanceof AuthServerUnavailableError) {
        throw ApiError.of(
          'session_exchange_unavailable',
          {},
          { upstream: { step: 'refresh', ...(error.status ? { status: error.status } : {}) } },
        );
      }
      throw error;
    }
  }
}

function useOfLease(lease: AccountLease | null, teamOverride: string | undefined): AccountUse | null {
  const otherWorkspace = lease !== null && teamOverride !== undefined && teamOverride !== lease.chatgptAccountId;
  return (
    lease && {
      accessToken: lease.accessToken,
      chatgptAccountId: teamOverride ?? lease.chatgptAccountId,
      poolAccountId: lease.accountId,
      fingerprintKey: lease.accountId,
      ...(lease.sessionToken ? { sessionToken: lease.sessionToken } : {}),
      // The plan the pool knows is its own workspace's: a request in another one does not carry it (`learnPlan` learns
      // nothing there anyway); one that names the account's own workspace does, like any other.
      ...(lease.planTier && !otherWorkspace ? { planTier: lease.planTier } : {}),
      ...(otherWorkspace ? { otherWorkspace: true as const } : {}),
    }
  );
}
