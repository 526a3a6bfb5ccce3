import { Injectable } from '@nestjs/common';
import { ApiError } from '../common/errors/api-error';
import type { AccountOutcome } from '../common/vocabulary/account-outcome';
import { Clock } from '../common/vocabulary/clock';
import { SeedRegistry } from '../token-pool/seed-registry';
import { readAccessTokenClaims } from '../token-pool/token-kind';
import type { ApiCredential } from './api-credential';
import { BrowserAccount, BrowserSession, BrowserSessions } from './browser-session';
import { BrowserSessionStore, publicSession, StoredBrowserSession } from './browser-session.store';
import { type AccountUse, CredentialService } from './credential.service';

/**
 * AuthModule's side of the browser-session contract: sessions from the cookie or the stand-in token, and
 * the upstream account each runs as. Accounts are resolved through `CredentialService`, the same path as
 * the API: a seed's sticky binding (moved when its account dies), a RefreshToken's or SessionToken's cached exchange.
 * An account with a SessionToken carries it (its newest value), so the live page can be fetched signed in.
 */
@Injectable()
export class BrowserSessionsService extends BrowserSessions {
  constructor(
    private readonly store: BrowserSessionStore,
    private readonly credentials: CredentialService,
    private readonly seeds: SeedRegistry,
    private readonly clock: Clock,
  ) {
    super();
  }

  async fromCookie(cookieValue: string | undefined): Promise<BrowserSession | null> {
    const session = await this.store.byId(cookieValue);
    return session && publicSession(session);
  }

  async fromStandInToken(token: string | undefined): Promise<BrowserSession | null> {
    const session = await this.store.byStandInToken(token);
    return session && publicSession(session);
  }

  /**
   * @throws ApiError 401 `session_expired` when the session is gone or its credential no longer signs in
   *   (seed removed with AUTO_SEED=false, AccessToken expired, RefreshToken revoked, SessionToken signed out); 503 when no
   *   pool account is available.
   */
  async accountFor(session: BrowserSession): Promise<BrowserAccount> {
    const stored = await this.store.byId(session.id);
    if (!stored) throw sessionExpired();
    const use = await this.credentials
      .acquire(credentialOf(stored), new Set(), { ownerKey: stored.ownerKey })
      .catch(async (error: unknown) => {
        if (error instanceof ApiError && error.getStatus() === 401) throw await this.end(stored);
        throw error;
      });
    if (!use) throw ApiError.noAvailableAccount();
    // Signed out while the credential was being exchanged: the session stays ended, and this request ends with it.
    if (!(await this.keepNewestCredential(stored, use))) throw sessionExpired();
    const claims = readAccessTokenClaims(use.accessToken);
    if (stored.kind === 'owner' && claims.expiresAt !== undefined && claims.expiresAt <= this.clock.now()) throw await this.end(stored);
    return {
      accessToken: use.accessToken,
      ...(use.chatgptAccountId ? { chatgptAccountId: use.chatgptAccountId } : {}),
      ...(use.poolAccountId ? { poolAccountId: use.poolAccountId } : {}),
      ...(use.planTier ? { planTier: use.planTier } : {}),
      fingerprintKey: use.poolAccountId ?? stored.ownerKey ?? stored.id,
      ...(use.sessionToken ? { sessionToken: use.sessionToken } : {}),
      ...(use.exchangedFrom ? { exchangedFrom: use.exchangedFrom } : {}),
      // An owner sees their own account; a seed user none of the shared account's identifiers.
      privateIdentifiers: stored.kind === 'seed' ? [claims.email, claims.userId].filter((value): value is string => Boolean(value)) : [],
    };
  }

  /** The store's word alone (`byId` ends a session whose AccessToken has expired); an owner's credential is not exchanged. */
  async stillSignedIn(session: BrowserSession): Promise<boolean> {
    const stored = await this.store.byId(session.id);
    if (!stored) return false;
    return stored.kind !== 'seed' || (stored.seed !== undefined && (await this.seeds.exists(stored.seed)));
  }

  async report(session: BrowserSession, account: BrowserAccount, outcome: AccountOutcome): Promise<void> {
    const { accessToken, chatgptAccountId, poolAccountId, fingerprintKey, exchangedFrom } = account;
    if (poolAccountId) {
      await this.credentials.report({ accessToken, chatgptAccountId, poolAccountId, fingerprintKey }, outcome);
      return;
    }
    if (session.kind !== 'owner' || outcome.kind !== 'unauthorized') return;
    if (exchangedFrom) {
      await this.credentials.report({ accessToken, fingerprintKey, exchangedFrom }, outcome);
      return;
    }
    const stored = await this.store.byId(session.id);
    // Only the token the session still holds: a report about one it no longer uses says nothing about it.
    if (stored?.credential?.kind === 'access_token' && stored.credential.token === accessToken) await this.end(stored);
  }

  onSessionEnded(listener: (sessionId: string) => void): void {
    this.store.onEnded(listener);
  }

  /**
   * A session whose credential no longer signs in is over for good: the pages and the web app's `/api/auth/session`
   * then see a signed-out browser, and the sign-in form is shown again instead of a dead end.
   */
  private async end(stored: StoredBrowserSession): Promise<ApiError> {
    await this.store.destroy(stored);
    return sessionExpired();
  }

  /**
   * A RefreshToken the auth server rotated is spent, and a session cookie next-auth rotated will expire: the session
   * keeps the newest value, so that it still signs in after a restart, on another instance, or once this process has
   * forgotten the rotation. False when the session ended meanwhile (it is not written back).
   */
  private async keepNewestCredential(stored: StoredBrowserSession, use: AccountUse): Promise<boolean> {
    const credential = stored.credential;
    if (stored.kind !== 'owner' || !credential) return true;
    const newest =
      credential.kind === 'refresh_token' ? use.refreshToken : credential.kind === 'session_token' ? use.sessionToken : undefined;
    if (!newest || newest === credential.token) return true;
    return this.store.update({ ...stored, credential: { ...credential, token: newest } });
  }
}

function credentialOf(session: StoredBrowserSession): ApiCredential {
  if (session.kind === 'seed' && session.seed) return { kind: 'seed', seed: session.seed };
  const credential = session.credential;
  if (!credential) throw sessionExpired();
  return { kind: credential.kind, token: credential.token, chatgptAccountId: credential.chatgptAccountId };
}

function sessionExpired(): ApiError {
  return ApiError.of('session_expired', {});
}
