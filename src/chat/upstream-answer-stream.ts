import type { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { UpstreamError } from '../common/errors/upstream-error';
import { SseParser } from './translation/sse-parser';
import { TranslatedPiece, UpstreamStreamTranslator } from './translation/upstream-stream-translator';

interface PieceWithState {
  piece: TranslatedPiece;
  answerStarted: boolean;
}

/**
 * Reads an upstream conversation event stream until the answer has started, so a failure before that point can
 * still be retried. Returns every piece: those already read, then the rest as they arrive.
 */
export async function startedAnswer(body: Readable): Promise<AsyncGenerator<TranslatedPiece>> {
  const pieces = translate(body);
  const head: TranslatedPiece[] = [];
  for (;;) {
    const next = await pieces.next();
    if (next.done) throw new UpstreamError({ kind: 'no_answer', step: 'conversation', status: 200 });
    head.push(next.value.piece);
    if (next.value.piece.type === 'error' && !next.value.answerStarted) {
      await pieces.return(undefined);
      throw new UpstreamError({ kind: 'refused_answer', step: 'conversation', status: 200, said: next.value.piece.message });
    }
    if (next.value.answerStarted || next.value.piece.type === 'finish') break;
  }
  return concatPieces(head, pieces);
}

/**
 * Pieces handed on before the event loop gets a turn. A fast upstream's body is already buffered when it is read,
 * and reading it takes only microtasks: without a turn now and then, one long answer would be translated whole
 * before the socket writes its first piece to a slow client, or before any other request moves.
 */
const PIECES_PER_TURN = 32;

/** Parses and translates the upstream body as it arrives; returning early destroys the upstream request. */
async function* translate(body: Readable): AsyncGenerator<PieceWithState> {
  const parser = new SseParser();
  const translator = new UpstreamStreamTranslator();
  let sinceTurn = 0;
  try {
    // Not destroyed on a normal end, so the upstream connection goes back to the keep-alive pool.
    for await (const chunk of body.iterator({ destroyOnReturn: false })) {
      for (const event of parser.push(chunk as Buffer)) {
        for (const piece of translator.feed(event)) {
          yield { piece, answerStarted: translator.answerStarted };
          if (++sinceTurn >= PIECES_PER_TURN) {
            sinceTurn = 0;
            await nextTurn();
          }
        }
      }
    }
    for (const event of parser.end()) {
      for (const piece of translator.feed(event)) yield { piece, answerStarted: translator.answerStarted };
    }
    for (const piece of translator.end()) yield { piece, answerStarted: translator.answerStarted };
    if (!translator.finished)
      yield {
        piece: { type: 'error', message: 'The upstream ended the stream before the answer was complete.', code: 'upstream_stream_cut' },
        answerStarted: true,
      };
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

async function* concatPieces(head: TranslatedPiece[], rest: AsyncGenerator<PieceWithState>): AsyncGenerator<TranslatedPiece> {
  try {
    yield* head;
    for await (const { piece } of rest) yield piece;
  } finally {
    await rest.return(undefined);
  }
}

/** At most `limit` bytes of a body (an error answer), then the body is destroyed. */
export async function readLimited(body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= limit) break;
    }
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks).subarray(0, limit);
}
