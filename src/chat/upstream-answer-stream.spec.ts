import { Readable } from 'node:stream';
import { startedAnswer } from './upstream-answer-stream';
import type { TranslatedPiece } from './translation/upstream-stream-translator';

function event(data: unknown): string {
  return `data: ${JSON.stringify(data)}\n\n`;
}

/** A classic snapshot of the assistant's message `m1` holding `text`. */
function assistant(text: string, finished: boolean): unknown {
  return {
    message: {
      id: 'm1',
      author: { role: 'assistant' },
      content: { content_type: 'text', parts: [text] },
      status: finished ? 'finished_successfully' : 'in_progress',
      end_turn: finished ? true : null,
      metadata: finished ? { finish_details: { type: 'stop' } } : {},
      recipient: 'all',
    },
    conversation_id: 'c1',
    error: null,
  };
}

/** A classic answer of `pieces` growing snapshots, all in one chunk: an upstream that sent it faster than we read. */
function wholeAnswerInOneChunk(pieces: number): Buffer {
  const events: string[] = [];
  let text = '';
  for (let k = 0; k < pieces; k++) {
    text += `w${k} `;
    events.push(event(assistant(text, k === pieces - 1)));
  }
  events.push('data: [DONE]\n\n');
  return Buffer.from(events.join(''));
}

describe('startedAnswer', () => {
  it('yields to the event loop while it translates a large body that arrived at once', async () => {
    const pieces = await startedAnswer(Readable.from([wholeAnswerInOneChunk(400)]));
    let read = 0;
    let readWhenOtherWorkRan: number | undefined;
    // Other work (another request, the socket writing what was already translated) waits for the next turn of the
    // event loop: it must come before the whole answer is translated.
    setImmediate(() => (readWhenOtherWorkRan = read));
    const texts: string[] = [];
    for await (const batch of pieces) {
      for (const piece of batch) {
        read++;
        if (piece.type === 'content') texts.push(piece.text);
      }
    }
    expect(texts.join('')).toBe(Array.from({ length: 400 }, (_, k) => `w${k} `).join(''));
    expect(readWhenOtherWorkRan).toBeDefined();
    expect(readWhenOtherWorkRan!).toBeLessThan(read / 2);
  });
});

async function batchesOf(pieces: AsyncGenerator<TranslatedPiece[]>): Promise<TranslatedPiece[][]> {
  const batches: TranslatedPiece[][] = [];
  for await (const batch of pieces) batches.push(batch);
  return batches;
}

describe('startedAnswer batches', () => {
  it('hands on the pieces of one upstream read together, and each read as it comes', async () => {
    const first = event(assistant('Hel', false)) + event(assistant('Hello', false));
    const second = event(assistant('Hello there', true)) + 'data: [DONE]\n\n';
    const batches = await batchesOf(await startedAnswer(Readable.from([Buffer.from(first), Buffer.from(second)])));
    expect(batches).toEqual([
      [
        { type: 'conversation', conversationId: 'c1', messageId: 'm1' },
        { type: 'content', text: 'Hel' },
        { type: 'content', text: 'lo' },
      ],
      [
        { type: 'content', text: ' there' },
        { type: 'finish', reason: 'stop' },
      ],
    ]);
  });

  it('refuses an answer whose first read holds only an error, so the attempt can be retried', async () => {
    const body = Readable.from([Buffer.from(event({ error: 'Something went wrong', conversation_id: 'c1' }))]);
    const refusal = await startedAnswer(body).catch((error: unknown) => error);
    expect(refusal).toMatchObject({ kind: 'refused_answer', retryable: true });
    expect((refusal as Error).message).toContain('Something went wrong');
  });

  it('keeps an error that follows the start of the answer in the same read as part of the answer', async () => {
    const body = Readable.from([Buffer.from(event(assistant('Hi', false)) + event({ error: 'cut short', conversation_id: 'c1' }))]);
    const pieces = (await batchesOf(await startedAnswer(body))).flat();
    // The answer never finished, so the cut is reported after it; the client is shown the first error only.
    expect(pieces.map((piece) => piece.type)).toEqual(['conversation', 'content', 'error', 'error']);
    expect(pieces[2]).toMatchObject({ message: 'cut short' });
  });

  it('ends an answer the upstream cut off with an in-band error', async () => {
    const pieces = (await batchesOf(await startedAnswer(Readable.from([Buffer.from(event(assistant('Hi', false)))])))).flat();
    expect(pieces[pieces.length - 1]).toEqual({
      type: 'error',
      message: 'The upstream ended the stream before the answer was complete.',
      code: 'upstream_stream_cut',
    });
  });

  it.each([
    ['nothing but [DONE]', ['data: [DONE]\n\n']],
    ['a conversation id and [DONE]', [event({ conversation_id: 'c1', type: 'title_generation', title: 'x' }), 'data: [DONE]\n\n']],
    ['an empty body', []],
  ])('refuses a stream with %s as no answer, so the attempt can be retried', async (_name, chunks) => {
    const refusal = await startedAnswer(Readable.from(chunks.map((chunk) => Buffer.from(chunk)))).catch((error: unknown) => error);
    expect(refusal).toMatchObject({ kind: 'no_answer', retryable: true, accountOutcome: null });
  });
});
