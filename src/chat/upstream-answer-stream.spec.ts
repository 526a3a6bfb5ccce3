import { Readable } from 'node:stream';
import { startedAnswer } from './upstream-answer-stream';

/** A classic answer of `pieces` growing snapshots, all in one chunk: an upstream that sent it faster than we read. */
function wholeAnswerInOneChunk(pieces: number): Buffer {
  const events: string[] = [];
  let text = '';
  for (let k = 0; k < pieces; k++) {
    text += `w${k} `;
    const last = k === pieces - 1;
    const message = {
      id: 'm1',
      author: { role: 'assistant' },
      content: { content_type: 'text', parts: [text] },
      status: last ? 'finished_successfully' : 'in_progress',
      end_turn: last ? true : null,
      metadata: last ? { finish_details: { type: 'stop' } } : {},
      recipient: 'all',
    };
    events.push(`data: ${JSON.stringify({ message, conversation_id: 'c1', error: null })}\n\n`);
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
    for await (const piece of pieces) {
      read++;
      if (piece.type === 'content') texts.push(piece.text);
    }
    expect(texts.join('')).toBe(Array.from({ length: 400 }, (_, k) => `w${k} `).join(''));
    expect(readWhenOtherWorkRan).toBeDefined();
    expect(readWhenOtherWorkRan!).toBeLessThan(read / 2);
  });
});
