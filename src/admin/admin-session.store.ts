import { Injectable } from '@nestjs/common';
import type { CookieOptions, Request, Response } from 'express';
import { createHmac, randomBytes } from 'node:crypto';
import { secretsEqual } from '../common/util/secrets';
import { Clock } from '../token-pool/clock';

export const ADMIN_SESSION_COOKIE = 'flowgpt_admin';
export const ADMIN_SESSION_TTL_MS = 12 * 60 * 60_000;
const MAX_SESSIONS = 1_000;

export interface Flash {
  kind: 'success' | 'error';
  text: string;
}

export interface AdminSession {
  id: string;
  /** Bound to this session; every form and cookie-authenticated JSON call must echo it. */
  csrfToken: string;
  expiresAt: number;
  /** A message for the next dashboard view, after a form's redirect. */
  flash?: Flash;
}

/**
 * Admin sessions, in memory. The cookie holds `<session id>.<HMAC-SHA256 of the id>` under a key made at
 * start-up, so it never carries the admin secret and a restart signs everybody out.
 */
@Injectable()
export class AdminSessionStore {
  private readonly signingKey = randomBytes(32);
  private readonly sessions = new Map<string, AdminSession>();

  constructor(private readonly clock: Clock) {}

  create(): { session: AdminSession; cookieValue: string } {
    this.prune();
    const session: AdminSession = {
      id: randomBytes(24).toString('base64url'),
      csrfToken: randomBytes(24).toString('base64url'),
      expiresAt: this.clock.now() + ADMIN_SESSION_TTL_MS,
    };
    this.sessions.set(session.id, session);
    if (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    return { session, cookieValue: `${session.id}.${this.sign(session.id)}` };
  }

  /** The live session a cookie value names, or null when it is missing, forged or expired. */
  fromCookie(value: unknown): AdminSession | null {
    if (typeof value !== 'string') return null;
    const dot = value.lastIndexOf('.');
    if (dot <= 0) return null;
    const id = value.slice(0, dot);
    if (!secretsEqual(value.slice(dot + 1), this.sign(id))) return null;
    const session = this.sessions.get(id);
    if (!session) return null;
    if (session.expiresAt <= this.clock.now()) {
      this.sessions.delete(id);
      return null;
    }
    return session;
  }

  fromRequest(request: Request): AdminSession | null {
    return this.fromCookie((request.cookies as Record<string, unknown> | undefined)?.[ADMIN_SESSION_COOKIE]);
  }

  destroy(session: AdminSession): void {
    this.sessions.delete(session.id);
  }

  setFlash(session: AdminSession, flash: Flash): void {
    session.flash = flash;
  }

  takeFlash(session: AdminSession): Flash | undefined {
    const flash = session.flash;
    session.flash = undefined;
    return flash;
  }

  private sign(id: string): string {
    return createHmac('sha256', this.signingKey).update(id).digest('base64url');
  }

  private prune(): void {
    const now = this.clock.now();
    for (const [id, session] of this.sessions) if (session.expiresAt <= now) this.sessions.delete(id);
  }
}

/** HttpOnly, SameSite=Strict, limited to /admin; Secure when the request came over https (directly or via a loopback proxy). */
function cookieOptions(request: Request): CookieOptions {
  return { httpOnly: true, sameSite: 'strict', secure: request.secure, path: '/admin' };
}

export function setSessionCookie(request: Request, response: Response, cookieValue: string): void {
  response.cookie(ADMIN_SESSION_COOKIE, cookieValue, { ...cookieOptions(request), maxAge: ADMIN_SESSION_TTL_MS });
}

export function clearSessionCookie(request: Request, response: Response): void {
  response.clearCookie(ADMIN_SESSION_COOKIE, cookieOptions(request));
}
