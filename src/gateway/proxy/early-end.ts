import type { ServerResponse } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import { finishedOrCut, SHUTDOWN_FLUSH_MS } from '../../common/http/finished-or-cut';

/**
 * Ends a piped answer before the upstream has: the browser's response ends as a complete HTTP message (a cut one
 * looks like a network failure to the web app), then the rest of the upstream answer is dropped. `next` is what
 * `body` is piped into. A response the browser has not taken within `flushMs` is cut (its socket destroyed).
 */
export async function endPipedAnswerEarly(
  body: Readable,
  next: Writable,
  response: ServerResponse,
  flushMs = SHUTDOWN_FLUSH_MS,
): Promise<void> {
  if (!response.writableEnded && !response.destroyed) {
    const taken = finishedOrCut(response, flushMs);
    body.unpipe(next);
    next.end();
    await taken;
  }
  body.destroy();
}
