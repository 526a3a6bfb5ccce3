import { Readable } from 'node:stream';
import { UpstreamError } from '../../common/errors/upstream-error';
import { SseParser } from '../translation/sse-parser';
import { readHandoffEvent, type StreamHandoff } from './handoff-frames';

export type HeadVerdict = { kind: 'stream' } | { kind: 'handoff'; handoff: StreamHandoff };

/**
 * Past this much bookkeeping without a verdict the answer is read as an ordinary stream. Only whole events that
 * leave the question open count: those that echo the turn's input repeat the prompt, which may be long, and an
 * event still arriving may be one of them.
 */
const HEAD_LIMIT_BYTES = 64 * 1024;
/** The bound on the whole head, echoes and an unfinished event included. */
const HEAD_HARD_LIMIT_BYTES = 64 * 1024 * 1024;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Watches the head of a conversation's event stream for a `stream_handoff` stub (gateway-live-ui.md §4.5).
 * Bookkeeping events (`delta_encoding`, typed events such as `input_message`) and the v1 stream's opening adds
 * of the turn's system and user messages leave the question open; the first event that carries the answer (a
 * message, a delta, an error, `[DONE]`) or the end of the body says "an ordinary stream". Pure: fed chunks, it
 * returns a verdict once it has one.
 */
export class HandoffDetector {
  private readonly parser = new SseParser();
  private size = 0;
  /** Bytes of the bookkeeping events read so far (their data, about their size). */
  private bookkeepingBytes = 0;
  private verdict: HeadVerdict | undefined;

  push(chunk: Buffer | string): HeadVerdict | undefined {
    if (this.verdict) return this.verdict;
    this.size += chunk.length;
    for (const event of this.parser.push(chunk)) {
      const reading = readingOf(event.event, event.data);
      if (reading === 'open') this.bookkeepingBytes += Buffer.byteLength(event.data);
      else if (reading !== 'echo') return (this.verdict = reading);
    }
    if (this.bookkeepingBytes > HEAD_LIMIT_BYTES || this.size > HEAD_HARD_LIMIT_BYTES) this.verdict = { kind: 'stream' };
    return this.verdict;
  }

  /** The body ended before a verdict: whatever it held is read as an ordinary stream. */
  end(): HeadVerdict {
    if (this.verdict) return this.verdict;
    for (const event of this.parser.end()) {
      const reading = readingOf(event.event, event.data);
      if (reading !== 'open' && reading !== 'echo') return (this.verdict = reading);
    }
    this.verdict = { kind: 'stream' };
    return this.verdict;
  }
}

/** An event's verdict, or what it is when it leaves the question open: an echo of the turn's input, or other bookkeeping. */
function readingOf(type: string | undefined, data: string): HeadVerdict | 'echo' | 'open' {
  if (type === 'delta_encoding') return 'open';
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    // `[DONE]` and any other non-JSON line: not a hand-off stub.
    return { kind: 'stream' };
  }
  const handoff = readHandoffEvent(parsed);
  if (handoff) return { kind: 'handoff', handoff };
  if (parsed === 'v1') return 'open';
  if (!isRecord(parsed)) return { kind: 'stream' };
  if (addsPreamble(parsed)) return 'echo';
  if (type === 'delta') return { kind: 'stream' };
  if ('message' in parsed || 'v' in parsed || 'p' in parsed || 'o' in parsed) return { kind: 'stream' };
  if (parsed.error !== undefined && parsed.error !== null && parsed.error !== '') return { kind: 'stream' };
  if (parsed.type === 'input_message') return 'echo';
  return typeof parsed.type === 'string' ? 'open' : { kind: 'stream' };
}

/**
 * A v1 delta that adds a message of the turn that is not the answer's: a v1 stream opens with the system and
 * user messages as root adds (`c` 0 and 1) before the assistant's, and a hand-off stub may follow them.
 */
function addsPreamble(delta: Record<string, unknown>): boolean {
  if (delta.o !== 'add' || delta.p !== '' || !isRecord(delta.v) || !isRecord(delta.v.message)) return false;
  const author = delta.v.message.author;
  const role = isRecord(author) ? author.role : undefined;
  return typeof role === 'string' && role !== 'assistant' && role !== 'tool';
}

export type AnswerHead = { kind: 'stream'; body: Readable } | { kind: 'handoff'; handoff: StreamHandoff };

/**
 * Reads the head of a conversation body until `HandoffDetector` decides. An ordinary stream is returned with
 * the bytes read put back (`unshift`), so the translator sees the body from its first byte; a hand-off stub's
 * body is drained and released.
 */
export async function readAnswerHead(body: Readable): Promise<AnswerHead> {
  const detector = new HandoffDetector();
  const head: Buffer[] = [];
  let verdict: HeadVerdict | undefined;
  try {
    for await (const chunk of body.iterator({ destroyOnReturn: false })) {
      head.push(chunk as Buffer);
      verdict = detector.push(chunk as Buffer);
      if (verdict) break;
    }
  } catch (error) {
    if ((error as Error).name === 'AbortError' || error instanceof UpstreamError) throw error;
    throw new UpstreamError({ kind: 'stream_cut', step: 'conversation', said: (error as Error).message });
  }
  if (!verdict) verdict = detector.end();
  if (verdict.kind === 'handoff') {
    // The stub has nothing more to say; let it end so its connection can go back to the pool.
    body.resume();
    return verdict;
  }
  if (head.length > 0) {
    if (body.readableEnded) return { kind: 'stream', body: replay(Buffer.concat(head)) };
    body.unshift(Buffer.concat(head));
  }
  return { kind: 'stream', body };
}

function replay(bytes: Buffer): Readable {
  return Readable.from([bytes], { objectMode: false });
}
