import { Transform } from 'node:stream';
import { HandoffDetector } from '../../chat/handoff/handoff-detector';
import { turnTopic } from '../../chat/handoff/handoff-frames';
import { fileIdsInSse } from './file-ids';

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

/** What a seed's conversation stream names, recorded before the event naming it goes on to the browser. */
export interface ConversationStreamHooks {
  /** The conversation the stream creates or continues (the first id it names). */
  conversation(conversationId: string): Promise<void>;
  /** The WebSocket topic of a turn the stream hands off (`stream_handoff`, gateway-live-ui.md §4.5). */
  handoff(topic: string): Promise<void>;
  /** Files the stream gives the conversation (a generated image's asset pointer, an attachment), in any of its events. */
  files?(fileIds: string[]): Promise<void>;
}

/**
 * A pass-through for a conversation's event stream that parses its events for the conversation id (in the first
 * megabyte) and, with `HandoffDetector`, its head for a hand-off stub, and has each recorded before letting its event
 * go on: the browser never learns an id, or a topic to subscribe to, before it is recorded. A stub comes only in the
 * head (the detector's reading, as the API's): once its verdict is in and the id found, the rest passes unread, unless
 * `files` is given: then every event is read for the files it names, each recorded before its event goes on (an event
 * longer than a megabyte is not read, and its files are not the seed's). Every byte passes unchanged and as it arrives.
 */
export function conversationStreamSniffer(hooks: ConversationStreamHooks): Transform {
  const head = new HandoffDetector();
  let headDecided = false;
  let pending = '';
  let scanned = 0;
  let conversationFound = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (headDecided && conversationFound && !hooks.files) return callback(null, chunk);
      const records: Array<Promise<void>> = [];
      if (!headDecided) {
        const verdict = head.push(chunk);
        headDecided = verdict !== undefined;
        const handoff = verdict?.kind === 'handoff' ? verdict.handoff : undefined;
        if (handoff && (handoff.topic || handoff.turnExchangeId)) records.push(hooks.handoff(turnTopic(handoff)));
        // A resume names the turn by its id (`resumeBody`): when the stub names the topic otherwise, the turn's own is kept too.
        const byId = handoff?.turnExchangeId && turnTopic({ turnExchangeId: handoff.turnExchangeId });
        if (byId && byId !== turnTopic(handoff)) records.push(hooks.handoff(byId));
      }
      // The events this chunk completes: read for the id until it is found, and with `files` for the files they name.
      if (!conversationFound || hooks.files) {
        const [complete, rest] = completeEvents(pending + chunk.toString('utf8'));
        if (!conversationFound) {
          scanned += chunk.length;
          const id = complete ? conversationIdInSse(complete) : undefined;
          if (id || scanned > MAX_SCANNED_BYTES) conversationFound = true;
          if (id) records.push(hooks.conversation(id));
        }
        pending = conversationFound && !hooks.files ? '' : rest;
        const fileIds = hooks.files && complete ? fileIdsInSse(complete) : [];
        if (hooks.files && fileIds.length > 0) records.push(hooks.files(fileIds));
      }
      if (records.length === 0) return callback(null, chunk);
      Promise.all(records).then(
        () => callback(null, chunk),
        (error: Error) => callback(error),
      );
    },
  });
}

/** The complete events of SSE text, and what is left of the next one (dropped past `MAX_SCANNED_BYTES`). */
function completeEvents(text: string): [complete: string, rest: string] {
  const end = Math.max(text.lastIndexOf('\n\n'), text.lastIndexOf('\r\n\r\n'));
  const complete = end >= 0 ? text.slice(0, end) : '';
  const rest = end >= 0 ? text.slice(end).replace(/^(\r?\n)+/, '') : text;
  // An event this long is not the one that names the conversation first.
  return [complete, rest.length > MAX_SCANNED_BYTES ? '' : rest];
}
