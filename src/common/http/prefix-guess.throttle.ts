import { Injectable } from '@nestjs/common';
import { API_PREFIX_SHAPE, isReservedRoute } from '../../config/reserved-routes';
import type { AttemptWindow } from '../shared-state/attempt-window';
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
 * shares such a network an unlimited oracle.) Counted across instances with `REDIS_URL`.
 */
@Injectable()
export class PrefixGuessThrottle {
  private readonly misses: Record<PrefixGuessPath, AttemptWindow>;

  constructor(shared: SharedState) {
    const limits = { max: MAX_GUESSES, windowMs: GUESS_WINDOW_MS };
    this.misses = { api: shared.attemptWindow('prefix-guess', limits), entry: shared.attemptWindow('prefix-guess-entry', limits) };
  }

  /**
   * The answer to a prefix from `address` on `path` that the caller found `correct` (compared in constant time).
   * A wrong one is counted in one atomic step, so concurrent guesses cannot all slip in under the limit.
   */
  async judge(address: string, path: PrefixGuessPath, correct: boolean): Promise<PrefixVerdict> {
    const network = clientNetwork(address);
    const now = Date.now();
    const window = this.misses[path];
    // One store call either way, and one answer while locked: the lock tells a guesser nothing, not even by its timing.
    const lockedFor = correct ? await window.retryAfterSec(network, now) : await window.tryRecord(network, now);
    if (lockedFor > 0) return { outcome: 'locked', retryAfterSec: lockedFor };
    return correct ? { outcome: 'admitted' } : { outcome: 'wrong' };
  }
}
