import { Injectable } from '@nestjs/common';
import { AttemptWindow } from '../common/util/attempt-window';
import { Clock } from '../token-pool/clock';

export const MAX_FAILED_LOGINS = 5;
export const FAILED_LOGIN_WINDOW_MS = 15 * 60_000;
/** Bounds the memory an attacker rotating addresses can make us hold. */
const MAX_TRACKED_ADDRESSES = 10_000;

/** Counts failed admin sign-ins per client address: after 5 within 15 minutes, the address waits. */
@Injectable()
export class LoginThrottle {
  private readonly failures = new AttemptWindow({ max: MAX_FAILED_LOGINS, windowMs: FAILED_LOGIN_WINDOW_MS, maxKeys: MAX_TRACKED_ADDRESSES });

  constructor(private readonly clock: Clock) {}

  /** Seconds the address must still wait; 0 when it may try. */
  retryAfterSec(address: string): number {
    return this.failures.retryAfterSec(address, this.clock.now());
  }

  recordFailure(address: string): void {
    this.failures.record(address, this.clock.now());
  }

  reset(address: string): void {
    this.failures.reset(address);
  }
}
