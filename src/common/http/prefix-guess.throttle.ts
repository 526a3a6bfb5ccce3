import { Injectable } from '@nestjs/common';
import { AttemptWindow } from '../util/attempt-window';

/**
 * `API_PREFIX` is a secret in the path (and the admin secret when `ADMIN_KEY` is unset), so wrong prefixes
 * are guesses: after 20 within 15 minutes an address is refused on prefixed paths, even with the right prefix,
 * so that a guesser cannot tell when it has found it.
 */
@Injectable()
export class PrefixGuessThrottle {
  private readonly misses = new AttemptWindow({ max: 20, windowMs: 15 * 60_000, maxKeys: 10_000 });

  isLocked(address: string): boolean {
    return this.retryAfterSec(address) > 0;
  }

  /** Seconds until a locked address may try again; 0 when it is not locked. */
  retryAfterSec(address: string): number {
    return this.misses.retryAfterSec(address, Date.now());
  }

  recordMiss(address: string): void {
    this.misses.record(address, Date.now());
  }
}
