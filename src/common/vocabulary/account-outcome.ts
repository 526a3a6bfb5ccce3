/**
 * What the chat side reports after using a pool account: said by the upstream layer (`outcomeOf`), heard by
 * the pool (`AccountLeaser.report`).
 */
export type AccountOutcome =
  | { kind: 'success' }
  /** Upstream 429; `retryAfterSec` from its reset hint (`clears_in`, Retry-After) when known. */
  | { kind: 'rate_limited'; retryAfterSec?: number }
  /**
   * Upstream 401: the AccessToken is expired or revoked. `accessToken` is the one the upstream refused, when the
   * reporter knows it: a refusal of one the account has replaced since says nothing about its current one.
   */
  | { kind: 'unauthorized'; accessToken?: string }
  /** Upstream 403 on the account itself (deactivated, banned). */
  | { kind: 'forbidden'; reason?: string }
  /** The account's credential cannot even be sent (e.g. characters HTTP headers refuse): it never will be. */
  | { kind: 'unusable'; reason: string }
  /** The attempt failed on this account without an upstream verdict (it stalled before answering). */
  | { kind: 'failed'; reason: string };
