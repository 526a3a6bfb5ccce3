import { applyDelta, type DeltaOp } from './sse-encoding';

/**
 * Reads a finished upstream conversation stream back into messages, whatever its format: a test
 * helper for checking what the fake sends (and what a client should make of it).
 */

export interface SseEvent {
  event?: string;
  data: string;
}

export interface ReadStream {
  format: 'classic' | 'delta';
  /** Final state of every message, in order of first appearance (user echoes included). */
  messages: Record<string, unknown>[];
  /** Parsed `data:` JSON events that are not messages or deltas (moderation, title_generation, errors…). */
  others: Record<string, unknown>[];
  done: boolean;
}

export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    if (block.trim() === '') continue;
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (data.length) events.push({ event, data: data.join('\n') });
  }
  return events;
}

export function readStream(text: string): ReadStream {
  const events = parseSse(text);
  const format = events.some((e) => e.event === 'delta_encoding') ? 'delta' : 'classic';
  const byId = new Map<string, Record<string, unknown>>();
  const others: Record<string, unknown>[] = [];
  let done = false;
  const docs = new Map<number, Record<string, unknown>>();
  let current = -1;
  let previous: { p: string; o: DeltaOp['o'] } = { p: '', o: 'add' };
  const keep = (message: unknown) => {
    if (message && typeof message === 'object') {
      const m = message as Record<string, unknown>;
      byId.set(String(m.id), m);
    }
  };
  for (const e of events) {
    if (e.data === '[DONE]') {
      done = true;
      continue;
    }
    if (e.event === 'delta_encoding') continue;
    const payload = JSON.parse(e.data) as Record<string, unknown>;
    if (e.event === 'delta') {
      const op: DeltaOp = { p: (payload.p as string) ?? previous.p, o: (payload.o as DeltaOp['o']) ?? previous.o, v: payload.v };
      previous = { p: op.p, o: op.o };
      if (typeof payload.c === 'number') current = payload.c;
      const doc = applyDelta(docs.get(current) ?? {}, op);
      docs.set(current, doc);
      keep(doc.message);
    } else if ('message' in payload && payload.message) {
      keep(payload.message);
    } else if (payload.type === 'input_message') {
      keep(payload.input_message);
    } else {
      others.push(payload);
    }
  }
  return { format, messages: [...byId.values()], others, done };
}

/** The text of the last assistant `text` message addressed to the user. */
export function finalAnswerText(stream: ReadStream): string {
  const answers = stream.messages.filter((m) => {
    const author = m.author as { role: string };
    const content = m.content as { content_type: string };
    return author.role === 'assistant' && content.content_type === 'text' && m.recipient === 'all';
  });
  const last = answers[answers.length - 1];
  return last ? String((last.content as { parts: unknown[] }).parts[0]) : '';
}
