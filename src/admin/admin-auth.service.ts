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
   * Compares first, in constant time, then asks the throttle how to answer: only a wrong secret counts as
   * a failure, and a locked network is refused without the result, except one attempt a minute (see
   * `LoginThrottle`).
   */
  async checkSecret(address: string, given: string | undefined): Promise<SecretCheck> {
    const verdict = await this.throttle.judge(address, this.secret.matches(given));
    if (verdict.outcome === 'admitted') return { ok: true };
    if (verdict.outcome === 'throttled') return { ok: false, reason: 'throttled', retryAfterSec: verdict.retryAfterSec };
    if ((await this.throttle.retryAfterSec(address)) > 0)
      this.logger.warn(`Admin authentication from ${address} slowed down after repeated wrong secrets`);
    return { ok: false, reason: 'wrong_secret' };
  }

  /** `previous` is the session the browser's cookie still names: it ends once the new one is made, not on a wrong secret. */
  async signIn(
    address: string,
    given: string | undefined,
    previous: AdminSession | null,
  ): Promise<(SecretCheck & { ok: false }) | { ok: true; session: AdminSession; cookieValue: string }> {
    const check = await this.checkSecret(address, given);
    return check.ok ? { ok: true, ...(await this.openSession(address, previous)) } : check;
  }

  /**
   * A new session for a client that proved it knows the secret. The session its browser held (`previous`) ends: the
   * browser drops that cookie for the new one, and a copy of it (left in another profile, or taken from the machine)
   * must not stay valid until it expires.
   */
  async openSession(address: string, previous: AdminSession | null): Promise<{ session: AdminSession; cookieValue: string }> {
    this.logger.log(`Admin signed in from ${address}`);
    const opened = await this.sessions.create();
    if (previous) await this.sessions.destroy(previous);
    return opened;
  }

  /**
   * The session the `/{API_PREFIX}` entry opened (its handover cookie's value) takes over from the one the browser
   * held, which ends as on any sign-in (`openSession`). Returns the new session's cookie value, or null when the
   * handover names no live session.
   */
  async takeOver(handover: unknown, previous: AdminSession | null): Promise<string | null> {
    const session = await this.sessions.fromCookie(handover);
    if (!session || typeof handover !== 'string') return null;
    if (previous && previous.id !== session.id) await this.sessions.destroy(previous);
    return handover;
  }
}
