import type { PlanTier } from '../common/vocabulary/plan-tier';
import { ApiError } from '../common/errors/api-error';
import type { AccountOutcome } from '../common/vocabulary/account-outcome';

/**
 * The contract between the browser sign-in (AuthModule) and the reverse proxy (GatewayModule): who a browser
 * request is, resolved server-side from the opaque session cookie. Nothing here is ever sent to the browser
 * except `standInToken`, the per-session handle the web app uses as its `accessToken`.
 */

/** The session cookie: an opaque random id (HttpOnly, SameSite=Lax, Secure over https), mapped server-side. */
export const BROWSER_SESSION_COOKIE = 'flowgpt-session';

export type BrowserUserKind =
  /** Signed in with their own AccessToken, RefreshToken or SessionToken: sees their own account. */
  | 'owner'
  /** Signed in with a SeedToken: a shared pool account, restricted (gateway.md §4), own conversation list. */
  | 'seed';

/** What the server keeps for one browser session (in the shared-state store, so every instance sees it). */
export interface BrowserSession {
  id: string;
  kind: BrowserUserKind;
  /** The opaque per-session handle the web app sends as `Authorization: Bearer …`; swapped for the real token server-side. */
  standInToken: string;
  /** For seeds: the seed's stable public id (never the seed text itself). */
  seedId?: string;
  /** For owners: a fingerprint key of their own credential (never the credential itself). */
  ownerKey?: string;
  createdAt: number;
  expiresAt: number;
}

/** The upstream account a browser request runs as, resolved per request (tokens may be refreshed between requests). */
export interface BrowserAccount {
  accessToken: string;
  chatgptAccountId?: string;
  /** The pool account id, when the session draws from the pool (seeds). */
  poolAccountId?: string;
  /** The pool account's plan tier, when the pool knows it (the page shown to a seed says this plan). */
  planTier?: PlanTier;
  /** Names the account for its browser fingerprint and proxy without exposing the token. */
  fingerprintKey: string;
  /** The SessionToken cookie value, when the account has one (the live page renders signed in only with it). */
  sessionToken?: string;
  /** Identifiers a seed user must never see (replaced or scrubbed in every body): email, name, user id, phone. */
  privateIdentifiers: string[];
  /** An owner's own RefreshToken or SessionToken that `accessToken` was exchanged from (secret, server-side only). */
  exchangedFrom?: { kind: 'refresh_token' | 'session_token'; token: string };
}

/** Implemented by AuthModule, used by GatewayModule's proxy and pages. */
export abstract class BrowserSessions {
  /** The session of this cookie value, or null when there is none (or it expired). */
  abstract fromCookie(cookieValue: string | undefined): Promise<BrowserSession | null>;
  /** The session whose stand-in token this is (for `Authorization: Bearer <stand-in>` on proxied calls). */
  abstract fromStandInToken(token: string): Promise<BrowserSession | null>;
  /**
   * The upstream account this session runs as right now (leases, refreshes and seed re-binding happen here).
   * Rejects with an error `isSessionEnded` recognises once the session is over, whichever instance ended it.
   */
  abstract accountFor(session: BrowserSession): Promise<BrowserAccount>;
  /**
   * Whether the session still signs in, as far as the stores tell: it has not ended (here or on another instance,
   * signed out, expired) and a seed's seed still exists. Nothing is leased, refreshed or asked of the upstream, so that
   * long-lived connections can be checked often; a credential refused upstream shows at the session's next request,
   * which ends it. A passing failure (the store) rejects.
   */
  abstract stillSignedIn(session: BrowserSession): Promise<boolean>;
  /**
   * What the upstream said about the account a request of `session` ran as: heard by the pool for a pool account (a
   * seed's), so that it is set aside and the seed moves. For an owner only a refused AccessToken matters: one exchanged
   * from their RefreshToken or SessionToken is exchanged afresh next time, and their own AccessToken ends the session,
   * so that the web app shows the sign-in form instead of failing every call.
   */
  abstract report(session: BrowserSession, account: BrowserAccount, outcome: AccountOutcome): Promise<void>;
  /**
   * Calls `listener` with the id of each session this process ends (signed out, replaced by another sign-in, its
   * credential dead or expired). One ended by another instance is not reported here: `accountFor` tells.
   */
  abstract onSessionEnded(listener: (sessionId: string) => void): void;
}

/** Whether `error` says the browser's session has ended (`BrowserSessions.accountFor`), as opposed to a passing failure. */
export function isSessionEnded(error: unknown): boolean {
  return error instanceof ApiError && error.code === 'session_expired';
}
