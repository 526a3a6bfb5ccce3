import { Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import type { KeyValueStore } from '../common/shared-state/key-value.store';
import { SharedState } from '../common/shared-state/shared-state';
import { Clock } from '../common/vocabulary/clock';
import type { TokenKind } from '../token-pool/token-kind';
import type { BrowserSession, BrowserUserKind } from './browser-session';

/** A browser session lives this long after its last use (sliding). */
export const BROWSER_SESSION_TTL_MS = 30 * 24 * 60 * 60_000;
/** Extended at most once in this interval, so that every proxied request does not write to the store. */
const SLIDE_INTERVAL_MS = 60 * 60_000;
/** The web app's `accessToken`: recognisable as ours, useless anywhere but our origin. */
export const STAND_IN_PREFIX = 'fgst-';

/** Whom a new session signs in. The secrets in it stay on the server. */
export type SessionIdentity =
  | { kind: 'seed'; seed: string; seedId: string }
  /** `ownerKey`: the fingerprint key the credential was first used with, when it has rotated since (SessionTokens). */
  | {
      kind: 'owner';
      credential: OwnerCredential;
      email?: string;
      userId?: string;
      ownerKey?: string;
      /** When the credential stops working by itself (an AccessToken's `exp`): the session ends then too. */
      credentialExpiresAt?: number;
    };

export interface OwnerCredential {
  kind: TokenKind;
  token: string;
  chatgptAccountId?: string;
}

/** What the store keeps: the contract's session plus its server-only parts. */
export interface StoredBrowserSession extends BrowserSession {
  /** Echoed by the sign-out form. */
  csrfToken: string;
  seed?: string;
  credential?: OwnerCredential;
  email?: string;
  userId?: string;
  credentialExpiresAt?: number;
}

/**
 * Browser sessions in the shared state (memory for one instance, Redis for several): the cookie's random
 * id → the session, and the stand-in token → the session id. The cookie and the stand-in are random
 * handles; nothing in either can be turned back into a credential.
 */
@Injectable()
export class BrowserSessionStore {
  private readonly values: KeyValueStore;
  private readonly endedListeners = new Set<(sessionId: string) => void>();

  constructor(
    shared: SharedState,
    private readonly clock: Clock,
  ) {
    this.values = shared.keyValues('browser-session', { durable: true });
  }

  async create(identity: SessionIdentity): Promise<StoredBrowserSession> {
    const now = this.clock.now();
    const kind: BrowserUserKind = identity.kind;
    const session: StoredBrowserSession = {
      id: randomBytes(24).toString('base64url'),
      kind,
      standInToken: `${STAND_IN_PREFIX}${randomBytes(32).toString('base64url')}`,
      csrfToken: randomBytes(24).toString('base64url'),
      createdAt: now,
      expiresAt: now + BROWSER_SESSION_TTL_MS,
      ...(identity.kind === 'seed'
        ? { seed: identity.seed, seedId: identity.seedId }
        : {
            credential: identity.credential,
            ownerKey: identity.ownerKey ?? ownerKeyFor(identity.credential),
            email: identity.email,
            userId: identity.userId,
            ...(identity.credentialExpiresAt !== undefined ? { credentialExpiresAt: identity.credentialExpiresAt } : {}),
          }),
    };
    const ttl = session.expiresAt - now;
    await this.values.set(`stand-in:${session.standInToken}`, session.id, now, ttl);
    await this.values.set(`id:${session.id}`, JSON.stringify(session), now, ttl);
    return session;
  }

  /**
   * The live session with this id, its lifetime extended; null when unknown or expired. A session whose credential has
   * expired is ended here: no page or web-app call can use it, so the visitor is offered the sign-in form again.
   */
  async byId(id: string | undefined): Promise<StoredBrowserSession | null> {
    if (!id || id.length > 64) return null;
    const now = this.clock.now();
    const stored = await this.values.get(`id:${id}`, now);
    if (!stored) return null;
    const session = JSON.parse(stored) as StoredBrowserSession;
    if (session.expiresAt <= now) return null;
    if (session.credentialExpiresAt !== undefined && session.credentialExpiresAt <= now) {
      await this.destroy(session);
      return null;
    }
    if (session.expiresAt - now < BROWSER_SESSION_TTL_MS - SLIDE_INTERVAL_MS) {
      session.expiresAt = now + BROWSER_SESSION_TTL_MS;
      if (!(await this.replace(session))) return null;
    }
    return session;
  }

  async byStandInToken(token: string | undefined): Promise<StoredBrowserSession | null> {
    if (!token?.startsWith(STAND_IN_PREFIX) || token.length > 128) return null;
    const id = await this.values.get(`stand-in:${token}`, this.clock.now());
    return id ? this.byId(id) : null;
  }

  /**
   * Writes a changed copy of a session, unless the session ended meanwhile: a request that read it before a slow step
   * (a token exchange) must not bring back a session signed out during that step. Resolves to whether it was written.
   */
  async update(session: StoredBrowserSession): Promise<boolean> {
    return this.replace(session);
  }

  async destroy(session: BrowserSession): Promise<void> {
    await this.values.delete(`id:${session.id}`);
    await this.values.delete(`stand-in:${session.standInToken}`);
    for (const listener of this.endedListeners) listener(session.id);
  }

  /** Calls `listener` with the id of every session `destroy` ends in this process. */
  onEnded(listener: (sessionId: string) => void): void {
    this.endedListeners.add(listener);
  }

  /**
   * Only while the session's id key still holds it: that key is what says a session exists (`destroy` deletes it
   * first), so a stand-in key extended here after a sign-out names a session that is gone.
   */
  private async replace(session: StoredBrowserSession): Promise<boolean> {
    const now = this.clock.now();
    const ttl = session.expiresAt - now;
    if (!(await this.values.setIfPresent(`id:${session.id}`, JSON.stringify(session), now, ttl))) return false;
    await this.values.setIfPresent(`stand-in:${session.standInToken}`, session.id, now, ttl);
    return true;
  }
}

/** Names an owner's account (fingerprint, logs) without the credential: a hash, like pool account ids. */
export function ownerKeyFor(credential: OwnerCredential): string {
  return `owner-${createHash('sha256')
    .update('flowgpt-owner:')
    .update(credential.token)
    .update(`\n${credential.chatgptAccountId ?? ''}`)
    .digest('base64url')
    .slice(0, 16)}`;
}

/** The contract's view of a stored session: none of the server-only parts. */
export function publicSession(session: StoredBrowserSession): BrowserSession {
  const { id, kind, standInToken, seedId, ownerKey, createdAt, expiresAt } = session;
  return { id, kind, standInToken, ...(seedId ? { seedId } : {}), ...(ownerKey ? { ownerKey } : {}), createdAt, expiresAt };
}
