import type { ServerResponse } from 'node:http';
import { finished, type Readable, type Writable } from 'node:stream';

/**
 * How long a browser has to take the end of a gateway stream a shutdown ends: one that reads takes it in moments; one
 * that stopped reading (a frozen tab, a client gone without a word) never would, and would hold the shutdown for ever.
 */
const EARLY_END_FLUSH_MS = 5_000;

/**
 * Ends a piped answer before the upstream has: the browser's response ends as a complete HTTP message (a cut one
 * looks like a network failure to the web app), then the rest of the upstream answer is dropped. `next` is what
 * `body` is piped into. A response the browser has not taken within `flushMs` is cut (its socket destroyed).
 */
export function endPipedAnswerEarly(body: Readable, next: Writable, response: ServerResponse, flushMs = EARLY_END_FLUSH_MS): Promise<void> {
  return new Promise((resolve) => {
    if (response.writableEnded || response.destroyed) {
      body.destroy();
      return resolve();
    }
    const cut = setTimeout(() => response.destroy(), flushMs);
    finished(response, () => {
      clearTimeout(cut);
      body.destroy();
      resolve();
    });
    body.unpipe(next);
    next.end();
  });
}
