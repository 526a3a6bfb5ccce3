import { Injectable, Logger } from '@nestjs/common';
import { ApiError } from '../../common/errors/api-error';
import { UpstreamError } from '../../common/errors/upstream-error';
import { AppConfig } from '../../config/app-config';
import { workspaceKey } from '../../auth/account-key';
import { AccountUse, CredentialService } from '../../auth/credential.service';
import type { ApiCredential } from '../../auth/api-credential';
import type { AccountOutcome } from '../../common/vocabulary/account-outcome';
import type { PlanTier } from '../../common/vocabulary/plan-tier';
import { ModelCapTracker } from '../model-cap.tracker';

/** Wait before retrying a failure that says nothing about the account, times the attempt number. */
export const BACKOFF_STEP_MS = 150;

/** What an attempt saw of its account on the way, besides its outcome: the pool learns it. */
export interface AttemptFindings {
  /** The plan tier the sentinel's persona showed (`planTierOfPersona`). */
  plan?: PlanTier;
}

/** Why an attempt did not produce an answer. */
export type AttemptFailure =
  /** The model-cap memory (`ENABLE_LIMIT`) refused this account and model locally; nothing was sent. */
  | { modelCap: ApiError }
  /** The attempt threw: usually an `UpstreamError`, anything else is never retried. */
  | { error: unknown };

export interface AttemptDecision {
  retry: boolean;
  /** Milliseconds to wait before the next attempt. */
  waitMs: number;
  /** What to report to the pool against the account of the failed attempt; null: nothing. */
  outcome: AccountOutcome | null;
  /** Seconds until the account's cap on this model resets, to remember (`ENABLE_LIMIT`). */
  modelCapSec?: number;
  /**
   * Whether the next attempt runs on another account. The failed one is tried again only when no untried account is
   * left and its failure blamed nobody (a 5xx, an answer that never came): see `AttemptPolicy.nextAccount`.
   */
  nextAccount: boolean;
  /** No retry because the attempts are used up (rather than because another one could not help). */
  exhausted: boolean;
}

/**
 * Retry and rotation for one chat request, in one place: it decides whether a failed attempt is retried,
 * after how long and on which account, and what the pool and the model-cap memory learn from it.
 * A failure is retried when another attempt could succeed (`UpstreamError.retryable`); one that the account
 * is blamed for (`accountOutcome`), or that says the account cannot serve this model (`cannotServe`), only when
 * the credential draws from the pool and can move on to another account. Failures that blame nobody wait a little
 * longer each time; others move on at once. A Cloudflare challenge on a pool key moves on at once to another account
 * (`movesOffRoute`); on an own token or a pinned request it is retried after the back-off, since the next attempt may
 * leave by another route (another `CHATGPT_BASE_URL` host, another sentinel proxy) and a route whose solve just
 * failed fails fast in its cool-down.
 */
export function decide(failure: AttemptFailure, rotates: boolean, attempt: number, maxAttempts: number): AttemptDecision {
  const lastAttempt = attempt + 1 >= maxAttempts;
  if (cannotServe(failure)) {
    const retry = rotates && !lastAttempt;
    return { retry, waitMs: 0, outcome: null, nextAccount: retry, exhausted: rotates && lastAttempt };
  }
  const error = errorOf(failure);
  const upstream = error instanceof UpstreamError ? error : null;
  const outcome = upstream?.accountOutcome ?? null;
  const worthRetrying = !!upstream?.retryable && (rotates || !outcome);
  const retry = worthRetrying && !lastAttempt;
  return {
    retry,
    waitMs: retry && !outcome && !movesOffRoute(failure, rotates) ? BACKOFF_STEP_MS * (attempt + 1) : 0,
    outcome,
    // Only the conversation's own 429 is the model's cap (upstream-protocol.md §10.3): a sentinel call's is the account's.
    modelCapSec: outcome?.kind === 'rate_limited' && upstream?.step === 'conversation' ? outcome.retryAfterSec : undefined,
    nextAccount: retry && rotates,
    exhausted: worthRetrying && lastAttempt,
  };
}

/**
 * The account is not at fault, but cannot serve this model: its cap on the model has not reset, or its plan does
 * not include it. Another account may; this one is not tried again for the request.
 */
function cannotServe(failure: AttemptFailure): boolean {
  return 'modelCap' in failure || lacksModel(failure);
}

/** The account's plan does not include the (paid-only) model. */
function lacksModel(failure: AttemptFailure): boolean {
  return 'error' in failure && failure.error instanceof UpstreamError && failure.error.kind === 'model_not_in_plan';
}

/**
 * A Cloudflare challenge on a rotating credential: it holds for the account's route (proxy, host, user agent), so the
 * request moves on to another account, which may leave by another route, and does not come back to this one
 * (upstream-protocol.md §10.2).
 */
function movesOffRoute(failure: AttemptFailure, rotates: boolean): boolean {
  const error = errorOf(failure);
  return rotates && error instanceof UpstreamError && error.kind === 'cf_challenge';
}

function errorOf(failure: AttemptFailure | undefined): unknown {
  return failure && ('modelCap' in failure ? failure.modelCap : failure.error);
}

/** The field a pinned request continues by, which names the error when its pool account cannot be used. */
export type PinnedBy = 'conversation_id' | 'previous_response_id';

/** How a request's attempts choose their accounts (`AttemptPolicy.begin`). */
export interface AttemptRoute {
  /** The `ChatGPT-Account-ID` the client asked for, over the account's own. */
  teamOverride?: string;
  /** The pool account the conversation lives on, which every attempt must use. */
  preferredAccountId?: string;
  /** The request field that pinned it, which the error names when that account cannot be used. */
  pinnedBy?: PinnedBy;
  /** The model is paid-only (`ResolvedModel.paidOnly`): the pool hands out accounts whose plan may serve it first. */
  paidOnly?: boolean;
  /** The request continues an upstream conversation (`conversation_id`), which lives on one account (`AcquireOptions`). */
  continuesConversation?: boolean;
}

/** What one request has tried so far. */
export class AttemptState {
  attempt = 0;
  readonly tried = new Set<string>();
  /**
   * Tried pool accounts this request must not use again: the pool was told they failed, they cannot serve the model,
   * or their route met a Cloudflare challenge.
   */
  readonly ruledOut = new Set<string>();
  /** Every failed attempt's failure, in order. */
  readonly failures: AttemptFailure[] = [];

  constructor(
    readonly credential: ApiCredential,
    readonly rotates: boolean,
    readonly teamOverride?: string,
    /** The pool account every attempt must run on (the conversation lives there), when the request is pinned. */
    readonly preferredAccountId?: string,
    readonly pinnedBy: PinnedBy = 'previous_response_id',
    /** The model is paid-only: accounts whose plan may serve it are taken first. */
    readonly paidOnly = false,
    /** The request continues an upstream conversation. */
    readonly continuesConversation = false,
  ) {}
}

@Injectable()
export class AttemptPolicy {
  private readonly logger = new Logger(AttemptPolicy.name);

  constructor(
    private readonly config: AppConfig,
    private readonly credentials: CredentialService,
    private readonly modelCaps: ModelCapTracker,
  ) {}

  /** `RETRY_TIMES` retries after the first attempt. */
  get maxAttempts(): number {
    return this.config.retryTimes + 1;
  }

  /**
   * `preferredAccountId` pins a pool-key request to one pool account: a conversation exists only on the account
   * that created it, so such a request never rotates, and fails with a 409 naming `pinnedBy` (the field it continues
   * by) when that account cannot be used rather than continuing elsewhere (where the upstream would answer 404).
   */
  begin(credential: ApiCredential, route: AttemptRoute = {}): AttemptState {
    const { teamOverride, preferredAccountId, pinnedBy, paidOnly = false, continuesConversation = false } = route;
    const pinned = credential.kind === 'pool' ? preferredAccountId : undefined;
    const rotates = !pinned && this.credentials.rotates(credential);
    return new AttemptState(credential, rotates, teamOverride, pinned, pinnedBy, paidOnly, continuesConversation);
  }

  /**
   * The account for the next attempt: one this request has not tried yet, else one whose failure blamed nobody (a
   * one-account pool rides out a transient 5xx as an own token does); for a paid-only model, one whose plan may serve
   * it first. Throws when the pool has none left.
   */
  async nextAccount(state: AttemptState): Promise<AccountUse> {
    const acquire = (exclude: ReadonlySet<string>) =>
      this.credentials.acquire(state.credential, exclude, {
        teamOverride: state.teamOverride,
        preferredAccountId: state.preferredAccountId,
        paidOnly: state.paidOnly,
        continuesConversation: state.continuesConversation,
      });
    let use = await acquire(state.tried);
    if (!use && state.rotates && state.ruledOut.size < state.tried.size) use = await acquire(state.ruledOut);
    if (!use && state.preferredAccountId)
      throw ApiError.of(state.pinnedBy === 'conversation_id' ? 'conversation_unavailable' : 'previous_response_unavailable', {});
    if (!use) throw outOfAccounts(state);
    if (use.poolAccountId) state.tried.add(use.poolAccountId);
    return use;
  }

  /** The local refusal when this account's cap on the model has not reset yet. */
  async modelCap(use: AccountUse, slug: string): Promise<ApiError | null> {
    return this.modelCaps.refusal(workspaceKey(use), slug);
  }

  async succeeded(use: AccountUse, seen: AttemptFindings = {}): Promise<void> {
    await this.credentials.report(use, { kind: 'success' });
    if (seen.plan) await this.learnPlan(use, seen.plan);
  }

  /** The plan memory is a hint for choosing accounts: a store that does not take it costs the request nothing. */
  private async learnPlan(use: AccountUse, tier: PlanTier): Promise<void> {
    await this.credentials.learnPlan(use, tier).catch((error: Error) => {
      this.logger.warn(`The ${tier} plan of pool account ${use.poolAccountId} was not stored: ${error.message}`);
    });
  }

  /**
   * Decides on a failed attempt and tells the pool and the model-cap memory what it means for the account. What the
   * attempt saw of the account's plan (`seen`; a paid-only model refused says it is free) goes to the pool's plan
   * memory, never against the account's health.
   */
  async failed(
    state: AttemptState,
    use: AccountUse,
    slug: string,
    failure: AttemptFailure,
    seen: AttemptFindings = {},
  ): Promise<AttemptDecision> {
    state.failures.push(failure);
    const plan = lacksModel(failure) ? 'free' : seen.plan;
    if (plan) await this.learnPlan(use, plan);
    const decision = decide(failure, state.rotates, state.attempt, this.maxAttempts);
    if (use.poolAccountId && (decision.outcome || cannotServe(failure) || movesOffRoute(failure, state.rotates)))
      state.ruledOut.add(use.poolAccountId);
    if (decision.outcome) await this.credentials.report(use, decision.outcome);
    if (decision.modelCapSec !== undefined) await this.modelCaps.record(workspaceKey(use), slug, decision.modelCapSec);
    state.attempt++;
    return decision;
  }

  /** The error to answer once no retry is left: what failed, or, when a rotating request ran out of attempts, `outOfAccounts`. */
  givenUp(state: AttemptState, decision: AttemptDecision): unknown {
    if (decision.exhausted && state.rotates) return outOfAccounts(state);
    return errorOf(state.failures.at(-1));
  }
}

/**
 * What a rotating request answers when it has no account or no attempt left: 404 `model_not_found` when none of
 * the accounts it tried has the (paid-only) model in its plan; the pool's 503 when accounts were refused (the
 * pool, not the client's key, is the problem); otherwise the last failure itself, which blamed no account (a 502
 * `upstream_status` after 5xx on every attempt says more than "no account").
 */
function outOfAccounts(state: AttemptState): unknown {
  if (state.failures.length === 0) return ApiError.noAvailableAccount();
  const withModel = state.failures.filter((failure) => !lacksModel(failure));
  if (withModel.length === 0) return errorOf(state.failures.at(-1));
  const refusals = withModel.filter(refusesAccount);
  if (refusals.length > 0) return poolExhausted(state, refusals.at(-1)!);
  return errorOf(withModel.at(-1));
}

/** The account was refused for this request: the pool was told it failed, or its cap on the model has not reset. */
function refusesAccount(failure: AttemptFailure): boolean {
  const error = errorOf(failure);
  return 'modelCap' in failure || (error instanceof UpstreamError && error.accountOutcome !== null);
}

/** 503 `no_available_account`, saying how many accounts were tried and why the last one refused (`refusal`) failed. */
function poolExhausted(state: AttemptState, refusal: AttemptFailure): ApiError {
  const last = errorOf(refusal);
  if (state.tried.size === 0 || !(last instanceof ApiError || last instanceof UpstreamError)) return ApiError.noAvailableAccount();
  const retryAfter = last instanceof ApiError ? last.details.retryAfter : last.retryAfter;
  return ApiError.of('pool_exhausted', { tried: state.tried.size, lastError: last.message }, { retryAfter });
}
