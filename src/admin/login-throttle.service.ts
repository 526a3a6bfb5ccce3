import { Injectable } from '@nestjs/common';
import { Clock } from '../token-pool/clock';

export const MAX_FAILED_LOGINS = 5;
export const FAILED_LOGIN_WINDOW_MS = 15 * 60_000;
/** Bounds the memory an attacker rotating addresses can make us hold. */
const MAX_TRACKED_ADDRESSES = 10_000;

/** Counts failed admin sign-ins per client address: after 5 within 15 minutes, the address waits. */
@Injectable()
export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly clock: Clock) {}

  /** Seconds the address must still wait; 0 when it may try. */
  retryAfterSec(address: string): number {
    const recent = this.recent(address);
    if (recent.length < MAX_FAILED_LOGINS) return 0;
    const oldestCounted = recent[recent.length - MAX_FAILED_LOGINS];
    return Math.max(1, Math.ceil((oldestCounted + FAILED_LOGIN_WINDOW_MS - this.clock.now()) / 1000));
  }

  recordFailure(address: string): void {
    const recent = this.recent(address);
    recent.push(this.clock.now());
    this.failures.delete(address);
    this.failures.set(address, recent);
    if (this.failures.size > MAX_TRACKED_ADDRESSES) this.failures.delete(this.failures.keys().next().value!);
  }

  reset(address: string): void {
    this.failures.delete(address);
  }

  private recent(address: string): number[] {
    const since = this.clock.now() - FAILED_LOGIN_WINDOW_MS;
    const recent = (this.failures.get(address) ?? []).filter((at) => at > since);
    if (recent.length === 0) this.failures.delete(address);
    return recent;
  }
}
