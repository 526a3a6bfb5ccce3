import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { Request } from 'express';
import { BROWSER_SESSION_COOKIE, BrowserAccount, BrowserSession, BrowserSessions } from '../auth/browser-session';
import { ApiError } from '../common/errors/api-error';
import type { AccountOutcome } from '../common/vocabulary/account-outcome';
import { AppConfig } from '../config/app-config';
import type { BrowserFingerprint } from '../upstream/fingerprint';
import { UpstreamClient, type UpstreamIdentity } from '../upstream/upstream.client';
import { AccountIdentifiers, ProfileRefused } from './seed/account-identifiers.service';

/** Who a gateway request runs as: the browser session, its upstream account right now, and that account's browser. */
export interface GatewayCaller {
  session: BrowserSession;
  account: BrowserAccount;
  fingerprint: BrowserFingerprint;
}

/**
 * Who a caller's calls to the backend host run as: the account's token, workspace and fingerprint, and its cookie
 * jar, so that the cookies the upstream set on the account's calls (the API's or the gateway's: `oai-sc`, `__cf_bm`)
 * go back on them, as one browser's would. The browser's own cookies never go upstream, and the upstream's never
 * reach the browser (proxy-headers.ts).
 */
export function upstreamIdentityOf(caller: Pick<GatewayCaller, 'account' | 'fingerprint'>): UpstreamIdentity {
  const { account, fingerprint } = caller;
  return { accessToken: account.accessToken, chatgptAccountId: account.chatgptAccountId, fingerprint, cookieJar: account.fingerprintKey };
}

/** Requests without a session (assets, the signed-out page) still look like one stable browser upstream. */
const ANONYMOUS_FINGERPRINT_KEY = 'flowgpt-gateway-anonymous';

/**
 * Resolves the browser session of a gateway request. The web app sends its stand-in token as
 * `Authorization: Bearer …`; the session cookie alone is accepted only for safe methods (an `<img>` or a download
 * link carries no header), so that a cross-site form cannot act with it.
 *
 * `BrowserSessions` is implemented by AuthModule; it is looked up once, across modules, so that GatewayModule does
 * not depend on how AuthModule is wired.
 */
@Injectable()
export class GatewayIdentity implements OnApplicationBootstrap {
  private sessionsProvider: BrowserSessions | undefined;

  constructor(
    private readonly config: AppConfig,
    private readonly moduleRef: ModuleRef,
    private readonly upstream: UpstreamClient,
    private readonly identifiers: AccountIdentifiers,
  ) {}

  /** With the gateway on, a missing sign-in implementation stops the start instead of failing every request. */
  onApplicationBootstrap(): void {
    if (this.config.enableGateway) void this.sessions;
  }

  private get sessions(): BrowserSessions {
    if (!this.sessionsProvider) {
      try {
        this.sessionsProvider = this.moduleRef.get(BrowserSessions, { strict: false });
      } catch {
        this.sessionsProvider = undefined;
      }
    }
    if (!this.sessionsProvider)
      throw new Error('ENABLE_GATEWAY=true needs browser sessions: no module provides BrowserSessions (AuthModule implements it).');
    return this.sessionsProvider;
  }

  /** The session of this request, or null. */
  async sessionOf(request: Request): Promise<BrowserSession | null> {
    const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    if (bearer) return this.sessions.fromStandInToken(bearer);
    if (request.method !== 'GET' && request.method !== 'HEAD') return null;
    return this.fromCookieOf(request);
  }

  /** The session named by the cookie alone (pages and the WebSocket upgrade). */
  fromCookieOf(request: Pick<Request, 'headers'> & { cookies?: Record<string, string> }): Promise<BrowserSession | null> {
    const value = request.cookies?.[BROWSER_SESSION_COOKIE] || cookieFromHeader(request.headers.cookie, BROWSER_SESSION_COOKIE);
    return this.sessions.fromCookie(value || undefined);
  }

  /**
   * For a seed session, the account's identifiers include its profile's (name, phone, org ids), so that all are
   * scrubbed. A profile the upstream refuses because of the account itself is reported, and the request goes on
   * as the account the seed has then (another one, or the same one renewed).
   */
  async callerOf(session: BrowserSession): Promise<GatewayCaller> {
    const account = await this.sessions.accountFor(session);
    if (session.kind !== 'seed') return { session, account, fingerprint: this.upstream.fingerprint(account.fingerprintKey) };
    try {
      return await this.seedCaller(session, account);
    } catch (error) {
      if (!(error instanceof ProfileRefused)) throw error;
      await this.sessions.report(session, account, error.verdict);
      return this.seedCaller(session, await this.sessions.accountFor(session)).catch((again: unknown) => {
        throw again instanceof ProfileRefused ? again.toApiError() : again;
      });
    }
  }

  private async seedCaller(session: BrowserSession, account: BrowserAccount): Promise<GatewayCaller> {
    const fingerprint = this.upstream.fingerprint(account.fingerprintKey);
    const profile = await this.identifiers.of(account, fingerprint);
    return { session, account: { ...account, privateIdentifiers: [...new Set([...account.privateIdentifiers, ...profile])] }, fingerprint };
  }

  /** The caller of a request that needs one: 401 in the API's error shape otherwise. */
  async requireCaller(request: Request): Promise<GatewayCaller> {
    const session = await this.sessionOf(request);
    if (!session) throw ApiError.of('session_required', {});
    return this.callerOf(session);
  }

  async optionalCaller(request: Request): Promise<GatewayCaller | undefined> {
    const session = await this.sessionOf(request);
    return session ? this.callerOf(session) : undefined;
  }

  /** What the upstream said about the caller's account (see `BrowserSessions.report`). */
  report(caller: GatewayCaller, outcome: AccountOutcome): Promise<void> {
    return this.sessions.report(caller.session, caller.account, outcome);
  }

  /** See `BrowserSessions.stillSignedIn`: nothing is leased or asked of the upstream. */
  stillSignedIn(session: BrowserSession): Promise<boolean> {
    return this.sessions.stillSignedIn(session);
  }

  /** See `BrowserSessions.onSessionEnded`. */
  onSessionEnded(listener: (sessionId: string) => void): void {
    this.sessions.onSessionEnded(listener);
  }

  anonymousFingerprint(): BrowserFingerprint {
    return this.upstream.fingerprint(ANONYMOUS_FINGERPRINT_KEY);
  }
}

function cookieFromHeader(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) {
      try {
        return decodeURIComponent(part.slice(at + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
