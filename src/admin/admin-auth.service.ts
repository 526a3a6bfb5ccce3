import { Injectable, Logger } from '@nestjs/common';
import { AdminSecret } from './admin-secret.service';
import { AdminSession, AdminSessionStore } from './admin-session.store';
import { LoginThrottle } from './login-throttle.service';

export type SecretCheck = { ok: true } | { ok: false; reason: 'wrong_secret' } | { ok: false; reason: 'throttled'; retryAfterSec: number };

/** Checks the admin secret from a sign-in form or a bearer header, counting failures per client network. */
@Injectable()
export class AdminAuthService {
  private readonly logger = new Logger('Admin');

  constructor(
    private readonly secret: AdminSecret,
    private readonly throttle: LoginThrottle,
    private readonly sessions: AdminSessionStore,
  ) {}

  /**
   * A locked network's attempts are refused without comparing, except one a minute (see `LoginThrottle`):
   * the right secret then gets in; a wrong one is answered as throttled, like the unchecked ones.
   */
  async checkSecret(address: string, given: string | undefined): Promise<SecretCheck> {
    const admission = await this.throttle.admit(address);
    if (!admission.allowed) return { ok: false, reason: 'throttled', retryAfterSec: admission.retryAfterSec };
    if (this.secret.matches(given)) {
      await this.throttle.succeeded(address);
      return { ok: true };
    }
    if (admission.locked) return { ok: false, reason: 'throttled', retryAfterSec: admission.retryAfterSec };
    if ((await this.throttle.retryAfterSec(address)) > 0)
      this.logger.warn(`Admin authentication from ${address} slowed down after repeated wrong secrets`);
    return { ok: false, reason: 'wrong_secret' };
  }

  async signIn(
    address: string,
    given: string | undefined,
  ): Promise<(SecretCheck & { ok: false }) | { ok: true; session: AdminSession; cookieValue: string }> {
    const check = await this.checkSecret(address, given);
    return check.ok ? { ok: true, ...(await this.openSession(address)) } : check;
  }

  /** A new session for a client that proved it knows the secret. */
  openSession(address: string): Promise<{ session: AdminSession; cookieValue: string }> {
    this.logger.log(`Admin signed in from ${address}`);
    return this.sessions.create();
  }
}
