import { Injectable } from '@nestjs/common';
import { clientNetwork } from '../common/http/client-network';
import type { AttemptWindow } from '../common/shared-state/attempt-window';
import { SharedState } from '../common/shared-state/shared-state';
import { Clock } from '../common/vocabulary/clock';

export const MAX_FAILED_LOGINS = 5;
export const FAILED_LOGIN_WINDOW_MS = 15 * 60_000;
/** While a network is locked, one attempt per this interval is still checked. */
export const LOCKED_ATTEMPT_INTERVAL_MS = 60_000;

/** Whether a sign-in attempt may have its secret checked. */
export type LoginAdmission =
  /** `locked`: the network is over the limit and this is its one checked attempt for now; a wrong secret is answered as throttled. */
  | { allowed: true; locked: false }
  | { allowed: true; locked: true; retryAfterSec: number }
  /** Refused without checking the secret. */
  | { allowed: false; retryAfterSec: number };

/**
 * Counts admin sign-in attempts per client network (`clientNetwork`: an IPv4 address, an IPv6 /64), across
 * instances with `REDIS_URL`. Up to 5 wrong secrets within 15 minutes are answered as wrong; past that the
 * network is locked: one attempt a minute is still checked, so the admin who mistyped gets in with the
 * right secret, while a guesser is slowed to one guess a minute. A locked network's wrong and unchecked
 * attempts get the same answer (throttled), so the lock tells a guesser nothing; a success clears the count.
 */
@Injectable()
export class LoginThrottle {
  private readonly attempts: AttemptWindow;
  private readonly lockedAttempts: AttemptWindow;

  constructor(
    shared: SharedState,
    private readonly clock: Clock,
  ) {
    this.attempts = shared.attemptWindow('admin-login', { max: MAX_FAILED_LOGINS, windowMs: FAILED_LOGIN_WINDOW_MS });
    this.lockedAttempts = shared.attemptWindow('admin-login-locked', { max: 1, windowMs: LOCKED_ATTEMPT_INTERVAL_MS });
  }

  /**
   * Counts the attempt before its secret is checked (as a failure, undone by `succeeded`), so that
   * concurrent guesses cannot all slip in under the limit.
   */
  async admit(address: string): Promise<LoginAdmission> {
    const network = clientNetwork(address);
    const now = this.clock.now();
    const lockedFor = await this.attempts.tryRecord(network, now);
    if (lockedFor === 0) return { allowed: true, locked: false };
    const nextCheck = await this.lockedAttempts.tryRecord(network, now);
    if (nextCheck === 0) return { allowed: true, locked: true, retryAfterSec: Math.min(lockedFor, LOCKED_ATTEMPT_INTERVAL_MS / 1000) };
    return { allowed: false, retryAfterSec: Math.min(lockedFor, nextCheck) };
  }

  /** Seconds until the network is no longer locked; 0 when it is not. */
  async retryAfterSec(address: string): Promise<number> {
    return this.attempts.retryAfterSec(clientNetwork(address), this.clock.now());
  }

  async succeeded(address: string): Promise<void> {
    const network = clientNetwork(address);
    await this.attempts.reset(network);
    await this.lockedAttempts.reset(network);
  }
}
