import { Injectable, Logger } from '@nestjs/common';
import { clientNetwork } from '../common/http/client-network';
import type { AttemptWindow } from '../common/shared-state/attempt-window';
import { LocalWhileStoreDown } from '../common/shared-state/local-while-store-down';
import { SharedState } from '../common/shared-state/shared-state';
import { Clock } from '../common/vocabulary/clock';

export const MAX_FAILED_LOGINS = 5;
export const FAILED_LOGIN_WINDOW_MS = 15 * 60_000;
/** While a network is locked, one attempt per this interval is still checked. */
export const LOCKED_ATTEMPT_INTERVAL_MS = 60_000;

/** How an attempt whose secret was already compared is answered. */
export type LoginVerdict =
  | { outcome: 'admitted' }
  | { outcome: 'wrong_secret' }
  /** The network is locked, and this attempt was wrong or not its one checked attempt for now. */
  | { outcome: 'throttled'; retryAfterSec: number };

/**
 * Counts wrong admin secrets per client network (`clientNetwork`: an IPv4 address, an IPv6 /64), across
 * instances with `REDIS_URL`. Up to 5 wrong secrets within 15 minutes are answered as wrong; past that the
 * network is locked: one attempt a minute is still checked, so the admin who mistyped gets in with the
 * right secret, while a guesser is slowed to one guess a minute. A locked network's wrong and unchecked
 * attempts get the same answer (throttled), so the lock tells a guesser nothing; a success clears the count.
 *
 * Only a wrong secret counts: any number of concurrent calls carrying the right one pass while the network
 * is not locked. Concurrent guesses still cannot all slip in: a wrong one is counted in one atomic step, and
 * a right one asks whether the network is locked in the same order (one Redis connection per process, or
 * one memory), so an attempt that comes after five wrong ones finds the lock.
 */
@Injectable()
export class LoginThrottle {
  /**
   * In the store, and while Redis does not answer in this process: the secret is still checked (the scrape of
   * `/metrics` goes on through an outage) and guesses still slowed, per instance rather than across them; a network
   * locked out meanwhile stays locked, here, once Redis answers again (`lockedHere`).
   */
  private readonly windows: LocalWhileStoreDown<Windows>;

  constructor(
    shared: SharedState,
    private readonly clock: Clock,
  ) {
    const local = shared.local;
    this.windows = new LocalWhileStoreDown(
      windowsOf(shared),
      local && windowsOf(local),
      new Logger(LoginThrottle.name),
      'counting admin secret checks',
    );
  }

  /**
   * The answer to an attempt from `address` whose secret the caller found `correct` (compared in constant
   * time). While the network is locked, right and wrong attempts alike take its one checked attempt a
   * minute: were only right ones to take it, a guesser's right guess would always find it free.
   */
  async judge(address: string, correct: boolean): Promise<LoginVerdict> {
    const network = clientNetwork(address);
    return this.windows.run((windows) => this.judgeIn(windows, network, correct), this.lockedHere(network));
  }

  /** Seconds until the network is no longer locked; 0 when it is not. */
  async retryAfterSec(address: string): Promise<number> {
    const network = clientNetwork(address);
    return this.windows.run((windows) => windows.attempts.retryAfterSec(network, this.clock.now()), this.lockedHere(network));
  }

  /** A network locked out in this process's count (while Redis did not answer) stays judged there until the lock ends. */
  private lockedHere(network: string): (local: Windows) => Promise<boolean> {
    return async (local) => (await local.attempts.retryAfterSec(network, this.clock.now())) > 0;
  }

  private async judgeIn({ attempts, lockedAttempts }: Windows, network: string, correct: boolean): Promise<LoginVerdict> {
    const now = this.clock.now();
    const lockedFor = correct ? await attempts.retryAfterSec(network, now) : await attempts.tryRecord(network, now);
    if (lockedFor > 0) {
      const nextCheck = await lockedAttempts.tryRecord(network, now);
      if (nextCheck > 0) return { outcome: 'throttled', retryAfterSec: Math.min(lockedFor, nextCheck) };
      if (!correct) return { outcome: 'throttled', retryAfterSec: Math.min(lockedFor, LOCKED_ATTEMPT_INTERVAL_MS / 1000) };
    }
    if (!correct) return { outcome: 'wrong_secret' };
    await attempts.reset(network);
    await lockedAttempts.reset(network);
    return { outcome: 'admitted' };
  }
}

interface Windows {
  attempts: AttemptWindow;
  lockedAttempts: AttemptWindow;
}

function windowsOf(state: SharedState): Windows {
  return {
    attempts: state.attemptWindow('admin-login', { max: MAX_FAILED_LOGINS, windowMs: FAILED_LOGIN_WINDOW_MS }),
    lockedAttempts: state.attemptWindow('admin-login-locked', { max: 1, windowMs: LOCKED_ATTEMPT_INTERVAL_MS }),
  };
}
