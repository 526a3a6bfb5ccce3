import { Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { clientNetwork } from '../common/http/client-network';
import type { AttemptWindow } from '../common/shared-state/attempt-window';
import { SharedState } from '../common/shared-state/shared-state';
import { Clock } from '../common/vocabulary/clock';
import { BrowserCookies } from './browser-cookies';
import { BrowserSessionStore, publicSession, StoredBrowserSession } from './browser-session.store';
import { isSessionEnded } from './browser-session';
import { BrowserSessionsService } from './browser-sessions.service';
import { BrowserSignIn, SignInFailure } from './browser-sign-in.service';

/** Sign-in attempts per client network: enough for typos, too few to mint seeds or guess them in bulk. */
export const SIGN_IN_ATTEMPTS = { max: 20, windowMs: 10 * 60_000 };

export type SignInOutcome =
  | { ok: true; session: StoredBrowserSession }
  | { ok: false; status: number; failure: SignInFailure | { reason: 'throttled'; retryAfterSec: number } };

/** Signing a browser in and out: the attempt throttle, the token check, the server-side session and its cookie. */
@Injectable()
export class BrowserSignInFlow {
  private readonly attempts: AttemptWindow;

  constructor(
    shared: SharedState,
    private readonly clock: Clock,
    private readonly checker: BrowserSignIn,
    private readonly sessions: BrowserSessionStore,
    private readonly cookies: BrowserCookies,
    private readonly accounts: BrowserSessionsService,
  ) {
    this.attempts = shared.attemptWindow('browser-sign-in', SIGN_IN_ATTEMPTS);
  }

  /** The live session of this request's cookie, if any. */
  current(request: Request): Promise<StoredBrowserSession | null> {
    return this.sessions.byId(this.cookies.sessionIdOf(request));
  }

  /**
   * The session of this request's cookie when its credential still signs in; one found dead (token expired or refused,
   * seed removed) is ended, and null returned. A passing failure (no pool account free, the auth server down) is not
   * the session's: it stays.
   */
  async usable(request: Request): Promise<StoredBrowserSession | null> {
    const session = await this.current(request);
    if (!session) return null;
    try {
      await this.accounts.accountFor(publicSession(session));
    } catch (error) {
      if (isSessionEnded(error)) return null;
    }
    return session;
  }

  /** Whether the browser sends a session cookie: without a session behind it, that session has ended. */
  hasSessionCookie(request: Request): boolean {
    return this.cookies.sessionIdOf(request) !== undefined;
  }

  async signIn(request: Request, response: Response, typed: string | undefined): Promise<SignInOutcome> {
    const network = clientNetwork(request.ip ?? request.socket.remoteAddress ?? 'unknown');
    const retryAfterSec = await this.attempts.tryRecord(network, this.clock.now());
    if (retryAfterSec > 0) return { ok: false, status: 429, failure: { reason: 'throttled', retryAfterSec } };
    const check = await this.checker.check(typed);
    if (!check.ok) return { ok: false, status: statusOf(check.reason), failure: check };
    const previous = await this.current(request);
    const session = await this.sessions.create(check.identity);
    if (previous) await this.sessions.destroy(previous);
    this.cookies.setSession(request, response, session);
    return { ok: true, session };
  }

  async signOut(request: Request, response: Response, session: StoredBrowserSession): Promise<void> {
    await this.sessions.destroy(session);
    this.cookies.clearSession(request, response);
  }
}

function statusOf(reason: SignInFailure['reason']): number {
  if (reason === 'poolEmpty' || reason === 'authServerDown' || reason === 'sessionUnavailable') return 503;
  if (['refreshRefused', 'sessionRefused', 'accessRefused', 'workspaceUnknown', 'seedUnknown', 'expired'].includes(reason)) return 401;
  if (reason === 'seedLimit') return 403;
  return 400;
}

/** A failed sign-in as the page shows it: `views/auth/login.hbs` fills `t.errors[reason]` with these values. */
export function failureView(failure: Exclude<SignInOutcome, { ok: true }>['failure']): { reason: string; minutes?: number; date?: string } {
  if (failure.reason === 'throttled') return { reason: failure.reason, minutes: Math.ceil(failure.retryAfterSec / 60) };
  if (failure.reason === 'expired')
    return { reason: failure.reason, date: `${new Date(failure.expiredAt).toISOString().replace('T', ' ').slice(0, 16)} UTC` };
  return { reason: failure.reason };
}
