import { Injectable } from '@nestjs/common';
import type { AttemptWindow } from '../shared-state/attempt-window';
import { SharedState } from '../shared-state/shared-state';
import { clientNetwork } from './client-network';

/**
 * `API_PREFIX` is a secret in the path (and the admin secret when `ADMIN_KEY` is unset), so wrong prefixes
 * are guesses: after 20 within 15 minutes a client network (see `clientNetwork`) is refused on prefixed
 * paths, even with the right prefix, so that a guesser cannot tell when it has found it. Counted across
 * instances with `REDIS_URL`.
 */
@Injectable()
export class PrefixGuessThrottle {
  private readonly misses: AttemptWindow;

  constructor(shared: SharedState) {
    this.misses = shared.attemptWindow('prefix-guess', { max: 20, windowMs: 15 * 60_000 });
  }

  async isLocked(address: string): Promise<boolean> {
    return (await this.retryAfterSec(address)) > 0;
  }

  /** Seconds until a locked network may try again; 0 when it is not locked. */
  retryAfterSec(address: string): Promise<number> {
    return this.misses.retryAfterSec(clientNetwork(address), Date.now());
  }

  recordMiss(address: string): Promise<void> {
    return this.misses.record(clientNetwork(address), Date.now());
  }
}
