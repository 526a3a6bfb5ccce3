import { Injectable, Logger } from '@nestjs/common';
import { AdminSecret } from './admin-secret.service';
import { AdminSession, AdminSessionStore } from './admin-session.store';
import { LoginThrottle } from './login-throttle.service';

export type SecretCheck = { ok: true } | { ok: false; reason: 'wrong_secret' } | { ok: false; reason: 'throttled'; retryAfterSec: number };

/** Checks the admin secret from a sign-in form or a bearer header, counting failures per client address. */
@Injectable()
export class AdminAuthService {
  private readonly logger = new Logger('Admin');

  constructor(
    private readonly secret: AdminSecret,
    private readonly throttle: LoginThrottle,
    private readonly sessions: AdminSessionStore,
  ) {}

  /** A throttled address is refused without comparing, so guesses made while it waits cost nothing. */
  checkSecret(address: string, given: string | undefined): SecretCheck {
    const retryAfterSec = this.throttle.retryAfterSec(address);
    if (retryAfterSec > 0) return { ok: false, reason: 'throttled', retryAfterSec };
    if (!this.secret.matches(given)) {
      this.throttle.recordFailure(address);
      if (this.throttle.retryAfterSec(address) > 0) this.logger.warn(`Admin authentication from ${address} refused for a while after repeated wrong secrets`);
      return { ok: false, reason: 'wrong_secret' };
    }
    this.throttle.reset(address);
    return { ok: true };
  }

  signIn(address: string, given: string | undefined): (SecretCheck & { ok: false }) | { ok: true; session: AdminSession; cookieValue: string } {
    const check = this.checkSecret(address, given);
    return check.ok ? { ok: true, ...this.openSession(address) } : check;
  }

  /** A new session for a client that proved it knows the secret. */
  openSession(address: string): { session: AdminSession; cookieValue: string } {
    this.logger.log(`Admin signed in from ${address}`);
    return this.sessions.create();
  }
}
