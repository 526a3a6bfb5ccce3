import { Injectable, Logger } from '@nestjs/common';
import { API_PREFIX_SHAPE, isReservedRoute } from '../../config/reserved-routes';
import type { AttemptWindow } from '../shared-state/attempt-window';
import { LocalWhileStoreDown } from '../shared-state/local-while-store-down';
import { SharedState } from '../shared-state/shared-state';
import { clientNetwork } from './client-network';

const MAX_GUESSES = 20;
const GUESS_WINDOW_MS = 15 * 60_000;

/**
 * Where a prefix is guessed: the admin entry `GET /{segment}` or the API's `/{segment}/v1/…`. Each has its own
 * count, so that single-segment page loads (the gateway's web app, bookmarks, typos) cannot lock a network out
 * of the API.
 */
export type PrefixGuessPath = 'entry' | 'api';

export type PrefixVerdict = { outcome: 'admitted' } | { outcome: 'wrong' } | { outcome: 'locked'; retryAfterSec: number };

/**
 * Whether a path segment could be `API_PREFIX`, and so counts as a guess when it is not: our own routes and
 * the web app's pages (which `API_PREFIX` may not take) and segments of other characters cannot.
 */
export function couldBeApiPrefix(segment: string): boolean {
  return !isReservedRoute(segment) && API_PREFIX_SHAPE.test(segment);
}

/**
 * `API_PREFIX` is a secret in the path (and the admin secret when `ADMIN_KEY` is unset), so wrong prefixes
 * are guesses: after 20 within 15 minutes on one path a client network (see `clientNetwork`) is locked there.
 * While locked, wrong prefixes are refused without an answer that says they are wrong, and so is the right one:
 * a guesser cannot tell when it has found the prefix. (An exception for networks that had used the right prefix
 * was tried and dropped in review: it answered a right guess with one more store call, and gave a guesser who
 * shares such a network an unlimited oracle.) Counted across instances with `REDIS_URL`; while Redis does not
 * answer, in this process (`LocalWhileStoreDown`): the API goes on, and guessing stays limited, per instance; a
 * network locked out meanwhile stays locked once Redis answers again (which has no count of it), until its lock ends.
 */
@Injectable()
export class PrefixGuessThrottle {
  private readonly misses: LocalWhileStoreDown<Record<PrefixGuessPath, AttemptWindow>>;

  constructor(shared: SharedState) {
    const local = shared.local;
    this.misses = new LocalWhileStoreDown(
      windowsOf(shared),
      local && windowsOf(local),
      new Logger(PrefixGuessThrottle.name),
      'counting prefix guesses',
    );
  }

  /**
   * The answer to a prefix from `address` on `path` that the caller found `correct` (compared in constant time).
   * A wrong one is counted in one atomic step, so concurrent guesses cannot all slip in under the limit.
   */
  async judge(address: string, path: PrefixGuessPath, correct: boolean): Promise<PrefixVerdict> {
    const network = clientNetwork(address);
    const now = Date.now();
    // One store call either way, and one answer while locked: the lock tells a guesser nothing, not even by its timing.
    // (A lock-out of this process's own count is answered from memory, before the store, for right and wrong alike.)
    const lockedFor = await this.misses.run(
      (windows) => (correct ? windows[path].retryAfterSec(network, now) : windows[path].tryRecord(network, now)),
      async (local) => (await local[path].retryAfterSec(network, now)) > 0,
    );
    if (lockedFor > 0) return { outcome: 'locked', retryAfterSec: lockedFor };
    return correct ? { outcome: 'admitted' } : { outcome: 'wrong' };
  }
}

function windowsOf(state: SharedState): Record<PrefixGuessPath, AttemptWindow> {
  const limits = { max: MAX_GUESSES, windowMs: GUESS_WINDOW_MS };
  return { api: state.attemptWindow('prefix-guess', limits), entry: state.attemptWindow('prefix-guess-entry', limits) };
}
