import { Injectable } from '@nestjs/common';
import type { CookieOptions, Request, Response } from 'express';
import { randomBytes } from 'node:crypto';
import { reachedOverHttps } from '../common/http/same-origin';
import type { KeyValueStore } from '../common/shared-state/key-value.store';
import { SharedState } from '../common/shared-state/shared-state';
import { secretsEqual } from '../common/util/secrets';
import { Clock } from '../common/vocabulary/clock';
import type { LocalText } from '../common/views/page-text';
import { AdminSecret } from './admin-secret.service';
import { AdminSigningKey } from './admin-signing-key';

export const ADMIN_SESSION_COOKIE = 'flowgpt_admin';
export const ADMIN_SESSION_TTL_MS = 12 * 60 * 60_000;
/**
 * Where a session made at the `/{API_PREFIX}` entry is handed over: a path under /admin, so that the browser sends the
 * session cookie it held along with the new one, and that session can end (`AdminAuthService.takeOver`).
 */
export const ADMIN_ENTRY_PATH = '/admin/enter';
export const ADMIN_ENTRY_COOKIE = 'flowgpt_admin_entry';
/** The handover follows the entry's redirect at once. */
const ADMIN_ENTRY_TTL_MS = 60_000;

/** An action's outcome, shown once on the next dashboard, in that page's language. */
export interface Flash extends LocalText {
  kind: 'success' | 'error';
}

export interface AdminSession {
  id: string;
  /** Bound to this session; every form and cookie-authenticated JSON call must echo it. */
  csrfToken: string;
  expiresAt: number;
  /** `AdminSecret.fingerprint` when the session was made: a session outlives neither a restart with another secret. */
  secret: string;
  /** A message for the next dashboard view, after a form's redirect. */
  flash?: Flash;
}

/**
 * Admin sessions, in the shared state (memory, or Redis so that a session made on one instance works on
 * the others). The cookie holds the session id, signed under `AdminSigningKey` (in cookie-parser's format), so it never
 * carries the admin secret, and a forged id is refused before the store is asked.
 */
@Injectable()
export class AdminSessionStore {
  private readonly sessions: KeyValueStore;

  constructor(
    shared: SharedState,
    private readonly clock: Clock,
    private readonly secret: AdminSecret,
    private readonly signingKey: AdminSigningKey,
  ) {
    this.sessions = shared.keyValues('admin-session', { durable: true });
  }

  /** A new session, and the value of its cookie: its id, signed. */
  async create(): Promise<{ session: AdminSession; cookieValue: string }> {
    const id = randomBytes(24).toString('base64url');
    const { cookie, key } = await this.signingKey.sign(id);
    const session: AdminSession = {
      id,
      csrfToken: randomBytes(24).toString('base64url'),
      expiresAt: this.clock.now() + ADMIN_SESSION_TTL_MS,
      secret: (await this.secret.fingerprint(key)) ?? '',
    };
    await this.save(session);
    return { session, cookieValue: cookie };
  }

  /** The live session a cookie value names, or null when its signature does not hold, or it is unknown or expired. */
  async fromCookie(value: unknown): Promise<AdminSession | null> {
    const verified = await this.signingKey.verify(value);
    if (!verified) return null;
    const now = this.clock.now();
    const stored = await this.sessions.get(verified.value, now);
    if (!stored) return null;
    const session = JSON.parse(stored) as AdminSession;
    const fingerprint = await this.secret.fingerprint(verified.key);
    const underThisSecret = fingerprint !== null && secretsEqual(session.secret, fingerprint);
    return session.expiresAt > now && underThisSecret ? session : null;
  }

  fromRequest(request: Request): Promise<AdminSession | null> {
    return this.fromCookie((request.cookies as Record<string, unknown> | undefined)?.[ADMIN_SESSION_COOKIE]);
  }

  async destroy(session: AdminSession): Promise<void> {
    await this.sessions.delete(session.id);
  }

  async setFlash(session: AdminSession, flash: Flash): Promise<void> {
    session.flash = flash;
    await this.save(session);
  }

  async takeFlash(session: AdminSession): Promise<Flash | undefined> {
    const flash = session.flash;
    if (!flash) return undefined;
    session.flash = undefined;
    await this.save(session);
    return flash;
  }

  private async save(session: AdminSession): Promise<void> {
    const now = this.clock.now();
    if (session.expiresAt > now) await this.sessions.set(session.id, JSON.stringify(session), now, session.expiresAt - now);
  }
}

/** What `reachedOverHttps` reads of the configuration to tell whether the cookie must be Secure. */
type Site = { publicUrl?: string; allowedHosts: readonly string[] };

/** HttpOnly, SameSite=Strict, limited to /admin; Secure when the browser came over https (`reachedOverHttps`). */
function cookieOptions(request: Request, site: Site): CookieOptions {
  return { httpOnly: true, sameSite: 'strict', secure: reachedOverHttps(request, site), path: '/admin' };
}

export function setSessionCookie(request: Request, response: Response, site: Site, cookieValue: string): void {
  response.cookie(ADMIN_SESSION_COOKIE, cookieValue, { ...cookieOptions(request, site), maxAge: ADMIN_SESSION_TTL_MS });
}

export function clearSessionCookie(request: Request, response: Response, site: Site): void {
  response.clearCookie(ADMIN_SESSION_COOKIE, cookieOptions(request, site));
}

/**
 * The entry's new session, sent only to `ADMIN_ENTRY_PATH`. SameSite=Lax, unlike the session cookie: an entry opened
 * from a link elsewhere is a cross-site navigation, whose redirect would not carry a Strict cookie, and this one only
 * completes the sign-in that its browser has just made.
 */
function entryCookieOptions(request: Request, site: Site): CookieOptions {
  return { httpOnly: true, sameSite: 'lax', secure: reachedOverHttps(request, site), path: ADMIN_ENTRY_PATH };
}

export function setEntryCookie(request: Request, response: Response, site: Site, cookieValue: string): void {
  response.cookie(ADMIN_ENTRY_COOKIE, cookieValue, { ...entryCookieOptions(request, site), maxAge: ADMIN_ENTRY_TTL_MS });
}

export function clearEntryCookie(request: Request, response: Response, site: Site): void {
  response.clearCookie(ADMIN_ENTRY_COOKIE, entryCookieOptions(request, site));
}

export function entryCookieOf(request: Request): unknown {
  return (request.cookies as Record<string, unknown> | undefined)?.[ADMIN_ENTRY_COOKIE];
}
