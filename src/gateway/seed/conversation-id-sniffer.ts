import { Transform } from 'node:stream';

/** An upstream conversation id: a UUID, or at least something shaped like an id. */
const CONVERSATION_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{7,99}$/;
/** The id comes in the first events; a stream that has not named one by then will not. */
const MAX_SCANNED_BYTES = 1024 * 1024;

/**
 * The conversation id a conversation event names: a classic `data:` JSON's top-level `conversation_id`, a delta
 * `add` event's `v.conversation_id`, a `stream_handoff` stub's, or (WebSocket frames) an `encoded_item` holding
 * such an event.
 */
export function conversationIdOf(event: unknown, depth = 0): string | undefined {
  if (depth > 3 || typeof event !== 'object' || event === null) return undefined;
  const record = event as Record<string, unknown>;
  if (typeof record.conversation_id === 'string' && CONVERSATION_ID.test(record.conversation_id)) return record.conversation_id;
  for (const key of ['v', 'message', 'payload']) {
    const found = conversationIdOf(record[key], depth + 1);
    if (found) return found;
  }
  if (typeof record.encoded_item === 'string') return conversationIdInSse(record.encoded_item);
  return undefined;
}

/** The first conversation id in complete SSE text (one or more events). */
export function conversationIdInSse(text: string): string | undefined {
  for (const event of text.split(/\r?\n\r?\n/)) {
    const found = conversationIdOf(eventData(event));
    if (found) return found;
  }
  return undefined;
}

/** An event's `data:` lines joined, parsed as JSON when they are JSON. */
function eventData(event: string): unknown {
  const data = event
    .split(/\r?\n/)
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(5).replace(/^ /, ''))
    .join('\n');
  if (!data.startsWith('{')) return undefined;
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}

/**
 * A pass-through for a conversation's event stream that parses its events until one names the conversation, and
 * calls `found` with that id before letting the event go on: the browser never learns an id before it is recorded.
 * Every byte passes unchanged and as it arrives.
 */
export function conversationIdSniffer(found: (conversationId: string) => Promise<void>): Transform {
  let pending = '';
  let scanned = 0;
  let done = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (done) return callback(null, chunk);
      scanned += chunk.length;
      pending += chunk.toString('utf8');
      const end = Math.max(pending.lastIndexOf('\n\n'), pending.lastIndexOf('\r\n\r\n'));
      const complete = end >= 0 ? pending.slice(0, end) : '';
      if (end >= 0) pending = pending.slice(end).replace(/^(\r?\n)+/, '');
      const id = complete ? conversationIdInSse(complete) : undefined;
      if (id || scanned > MAX_SCANNED_BYTES) {
        done = true;
        pending = '';
      }
      if (!id) return callback(null, chunk);
      found(id).then(
        () => callback(null, chunk),
        (error: Error) => callback(error),
      );
    },
  });
}
