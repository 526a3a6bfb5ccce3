import type { ServerResponse } from 'node:http';
import { finished } from 'node:stream';

/**
 * How long a client has to take the end of a stream a shutdown ends: one that reads takes it in moments; one that
 * stopped reading (a frozen tab, a client gone without a word) never would, and would hold the shutdown for ever.
 */
export const SHUTDOWN_FLUSH_MS = 5_000;

/** Resolves once `response` has finished or closed; one the client has not taken within `flushMs` is cut (its socket destroyed). */
export function finishedOrCut(response: ServerResponse, flushMs = SHUTDOWN_FLUSH_MS): Promise<void> {
  return new Promise((resolve) => {
    const cut = setTimeout(() => response.destroy(), flushMs);
    finished(response, () => {
      clearTimeout(cut);
      resolve();
    });
  });
}
