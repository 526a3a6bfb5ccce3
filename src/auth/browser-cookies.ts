import { Injectable } from '@nestjs/common';
import type { CookieOptions, Request, Response } from 'express';
import { randomBytes } from 'node:crypto';
import { reachedOverHttps } from '../common/http/same-origin';
import { secretsEqual } from '../common/util/secrets';
import { AppConfig } from '../config/app-config';
import { Clock } from '../common/vocabulary/clock';
import { BROWSER_SESSION_COOKIE, type BrowserSession } from './browser-session';

/** The sign-in form's CSRF token (double submit): a visitor has no session yet to bind one to. */
export const SIGN_IN_FORM_COOKIE = 'flowgpt-sign-in';
const SIGN_IN_FORM_MAX_AGE_MS = 2 * 60 * 60_000;
/** What `issueFormToken` mints (24 random bytes, base64url): any other cookie value is replaced, not echoed. */
const FORM_TOKEN_PATTERN = /^[A-Za-z0-9_-]{32}$/;

/**
 * The browser cookies of the sign-in: HttpOnly, SameSite=Lax, and Secure when the browser came over https
 * (`reachedOverHttps`: the request's protocol, the scheme of our page that sent it, or `PUBLIC_URL`'s for a
 * request made to its host).
 */
@Injectable()
export class BrowserCookies {
  constructor(
    private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {}

  isHttps(request: Request): boolean {
    return reachedOverHttps(request, this.config);
  }

  sessionIdOf(request: Request): string | undefined {
    const value = (request.cookies as Record<string, unknown> | undefined)?.[BROWSER_SESSION_COOKIE];
    return typeof value === 'string' ? value : undefined;
  }

  /** (Re)sets the session cookie until the session's current expiry, so the cookie slides with it. */
  setSession(request: Request, response: Response, session: BrowserSession): void {
    response.cookie(BROWSER_SESSION_COOKIE, session.id, {
      ...this.options(request),
      maxAge: Math.max(0, session.expiresAt - this.clock.now()),
    });
  }

  clearSession(request: Request, response: Response): void {
    response.clearCookie(BROWSER_SESSION_COOKIE, this.options(request));
  }

  /**
   * The sign-in form's token, also set as a cookie; the post must bring both back. The browser's current token is kept
   * (its lifetime renewed) and one minted only when it has none: every form it shows, in another tab or restored by
   * Back, stays valid. Nothing is weaker for it: another site can neither read the cookie nor the page holding it.
   */
  issueFormToken(request: Request, response: Response): string {
    const current = this.formTokenOf(request);
    const token = current && FORM_TOKEN_PATTERN.test(current) ? current : randomBytes(24).toString('base64url');
    response.cookie(SIGN_IN_FORM_COOKIE, token, {
      ...this.options(request),
      sameSite: 'strict',
      path: '/',
      maxAge: SIGN_IN_FORM_MAX_AGE_MS,
    });
    return token;
  }

  formTokenMatches(request: Request, given: unknown): boolean {
    const cookie = this.formTokenOf(request);
    return cookie !== undefined && typeof given === 'string' && secretsEqual(given, cookie);
  }

  private formTokenOf(request: Request): string | undefined {
    const cookie = (request.cookies as Record<string, unknown> | undefined)?.[SIGN_IN_FORM_COOKIE];
    return typeof cookie === 'string' ? cookie : undefined;
  }

  private options(request: Request): CookieOptions {
    return { httpOnly: true, sameSite: 'lax', secure: this.isHttps(request), path: '/' };
  }
}
