import type { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { UpstreamError } from '../common/errors/upstream-error';
import { readBody } from '../upstream/exchange';
import { SseParser } from './translation/sse-parser';
import { TranslatedPiece, UpstreamStreamTranslator } from './translation/upstream-stream-translator';

/** Pieces translated from one read of the upstream body, and whether the answer had started by the last of them. */
interface PieceBatch {
  pieces: TranslatedPiece[];
  answerStarted: boolean;
}

/**
 * Reads an upstream conversation event stream until the answer has started, so a failure before that point can
 * still be retried. Returns every piece, in batches: those already read, then the rest as they arrive (one batch
 * per upstream read, at most `PIECES_PER_TURN` pieces each).
 */
export async function startedAnswer(body: Readable): Promise<AsyncGenerator<TranslatedPiece[]>> {
  const batches = translate(body);
  const head: TranslatedPiece[][] = [];
  for (;;) {
    const next = await batches.next();
    if (next.done) throw new UpstreamError({ kind: 'no_answer', step: 'conversation', status: 200 });
    const { pieces, answerStarted } = next.value;
    head.push(pieces);
    // Nothing is rendered after an error, so a batch whose answer had not started by its end holds an error from before the start.
    const error = pieces.find((piece) => piece.type === 'error');
    if (error && !answerStarted) {
      await batches.return(undefined);
      throw new UpstreamError({ kind: 'refused_answer', step: 'conversation', status: 200, said: error.message });
    }
    if (answerStarted || pieces.some((piece) => piece.type === 'finish')) break;
  }
  return concatBatches(head, batches);
}

/**
 * Pieces handed on before the event loop gets a turn. A fast upstream's body is already buffered when it is read,
 * and reading it takes only microtasks: without a turn now and then, one long answer would be translated whole
 * before the socket writes its first piece to a slow client, or before any other request moves.
 */
const PIECES_PER_TURN = 32;

/**
 * Parses and translates the upstream body as it arrives, one batch of pieces per read (so that a short answer
 * crosses each async step once, not once per piece); returning early destroys the upstream request.
 */
async function* translate(body: Readable): AsyncGenerator<PieceBatch> {
  const parser = new SseParser();
  const translator = new UpstreamStreamTranslator();
  let batch: TranslatedPiece[] = [];
  const take = (): PieceBatch => {
    const taken = { pieces: batch, answerStarted: translator.answerStarted };
    batch = [];
    return taken;
  };
  const add = (pieces: TranslatedPiece[]) => {
    for (const piece of pieces) batch.push(piece);
  };
  try {
    // Not destroyed on a normal end, so the upstream connection goes back to the keep-alive pool.
    for await (const chunk of body.iterator({ destroyOnReturn: false })) {
      for (const event of parser.push(chunk as Buffer)) {
        add(translator.feed(event));
        if (batch.length >= PIECES_PER_TURN) {
          yield take();
          await nextTurn();
        }
      }
      if (batch.length > 0) yield take();
    }
    for (const event of parser.end()) add(translator.feed(event));
    add(translator.end());
    // Nothing of an answer came (an empty stream, or one with only `[DONE]`): another attempt may well get one.
    if (!translator.answerStarted && !translator.finished)
      throw new UpstreamError({ kind: 'no_answer', step: 'conversation', status: 200 });
    if (!translator.finished) {
      batch.push({ type: 'error', message: 'The upstream ended the stream before the answer was complete.', code: 'upstream_stream_cut' });
      yield { pieces: batch, answerStarted: true };
    } else if (batch.length > 0) {
      yield take();
    }
  } catch (error) {
    // An abort, or a failure already described (a hand-off socket that could not be resumed), is passed on.
    if ((error as Error).name === 'AbortError' || error instanceof UpstreamError) throw error;
    throw new UpstreamError({ kind: 'stream_cut', step: 'conversation', said: (error as Error).message });
  } finally {
    releaseBody(body, translator.finished);
  }
}

const DRAIN_GRACE_MS = 2_000;

/**
 * A finished answer usually stops being read just before the upstream closes its body: let the rest drain so
 * the keep-alive connection can be reused. An unfinished one (client gone, `max_tokens`) is cut off at once.
 */
function releaseBody(body: Readable, answerFinished: boolean): void {
  if (body.readableEnded || body.destroyed) return;
  if (!answerFinished) {
    body.destroy();
    return;
  }
  const timer = setTimeout(() => body.destroy(), DRAIN_GRACE_MS);
  timer.unref();
  body.once('end', () => clearTimeout(timer));
  body.once('error', () => clearTimeout(timer));
  body.resume();
}

async function* concatBatches(head: TranslatedPiece[][], rest: AsyncGenerator<PieceBatch>): AsyncGenerator<TranslatedPiece[]> {
  try {
    yield* head;
    for await (const { pieces } of rest) yield pieces;
  } finally {
    await rest.return(undefined);
  }
}

/** At most `limit` bytes of a body (an error answer), then the body is destroyed. */
export async function readLimited(body: Readable, limit: number): Promise<Buffer> {
  try {
    return (await readBody(body, limit)).subarray(0, limit);
  } finally {
    body.destroy();
  }
}
