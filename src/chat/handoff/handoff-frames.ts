/**
 * The wire words of the WebSocket hand-off (gateway-live-ui.md §2 and §4.5), in one place.
 *
 * Known [c]: `GET /backend-api/celsius/ws/user` answers `{websocket_url}`; the client sends `connect` and
 * subscribes to `conversation-turn-{turn_exchange_id}`; the turn's deltas are the same SSE payloads the
 * conversation POST would have carried; `POST /backend-api/f/conversation/resume` recovers a dropped turn.
 * Assumed [u] (no public capture of the frames): the JSON field names below. They are read leniently, so a
 * renamed wrapper field is one edit here, and the fake upstream speaks exactly what this module reads.
 */

/** The conversation stream's `stream_handoff` stub: which turn continues over the WebSocket. */
export interface StreamHandoff {
  conversationId?: string;
  turnExchangeId?: string;
  /** The topic the stub names, when it names one; otherwise `conversation-turn-{turnExchangeId}`. */
  topic?: string;
}

/** One server message of the hand-off socket, as far as the answer is concerned. */
export type HandoffFrame =
  /** One item of the turn: SSE text (one event), and its position in the turn when the server numbers them. */
  | { kind: 'item'; topic?: string; offset?: number; sse: string }
  /** The server refused something (a subscription, the token). */
  | { kind: 'error'; topic?: string; message: string }
  /** Acknowledgements (`connected`, `subscribed`), presence and anything unknown: nothing for the answer. */
  | { kind: 'other' };

const HANDOFF_EVENT_TYPE = 'stream_handoff';

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const asString = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/** The topic a turn's deltas are published on. */
export function turnTopic(handoff: StreamHandoff): string {
  return handoff.topic ?? `conversation-turn-${handoff.turnExchangeId}`;
}

/** The messages a client sends once the socket is open: `connect`, then the subscription to the turn. */
export function subscribeMessages(topic: string): string[] {
  return [JSON.stringify({ type: 'connect' }), JSON.stringify({ type: 'subscribe', topic })];
}

/** The body of `f/conversation/resume`: the turn, and how many of its items the client already has. */
export function resumeBody(handoff: StreamHandoff, offset: number): Record<string, unknown> {
  return { conversation_id: handoff.conversationId, turn_exchange_id: handoff.turnExchangeId, offset };
}

/** Reads a `stream_handoff` event's data (already JSON-parsed); undefined when it is not one. */
export function readHandoffEvent(data: unknown): StreamHandoff | undefined {
  if (!isRecord(data) || data.type !== HANDOFF_EVENT_TYPE) return undefined;
  const options = isRecord(data.options) ? data.options : {};
  return {
    conversationId: asString(data.conversation_id),
    turnExchangeId: asString(data.turn_exchange_id) ?? asString(data.turn_id),
    topic: asString(data.topic_id) ?? asString(data.topic) ?? asString(options.topic_id),
  };
}

/** Parses one text message of the hand-off socket. Never throws: what cannot be read is `other`. */
export function parseHandoffFrame(text: string): HandoffFrame {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { kind: 'other' };
  }
  if (!isRecord(parsed)) return { kind: 'other' };
  const topic = asString(parsed.topic) ?? asString(parsed.topic_id);
  if (parsed.type === 'error') {
    const message = asString(parsed.message) ?? asString(isRecord(parsed.error) ? parsed.error.message : parsed.error) ?? 'error';
    return { kind: 'error', topic, message };
  }
  if (parsed.type !== 'message') return { kind: 'other' };
  const sse = itemText(parsed.payload);
  if (sse === undefined) return { kind: 'other' };
  const offset = typeof parsed.offset === 'number' && Number.isInteger(parsed.offset) && parsed.offset >= 0 ? parsed.offset : undefined;
  return { kind: 'item', topic, offset, sse };
}

/**
 * The SSE text of an item: the raw event text (`encoded_item`, or the payload itself as a string), or an
 * `{event?, data}` pair written back as SSE so the one parser downstream reads every transport alike.
 */
function itemText(payload: unknown): string | undefined {
  if (typeof payload === 'string') return withEventEnd(payload);
  if (!isRecord(payload)) return undefined;
  const encoded = asString(payload.encoded_item);
  if (encoded !== undefined) return withEventEnd(encoded);
  if (payload.data === undefined) return undefined;
  const data = typeof payload.data === 'string' ? payload.data : JSON.stringify(payload.data);
  return sseEvent(asString(payload.event), data);
}

/** One SSE event's text: its type when it has one, its data as `data:` lines, and the blank line that ends it. */
export function sseEvent(type: string | undefined, data: string): string {
  const lines = data.split('\n').map((line) => `data: ${line}\n`);
  return `${type ? `event: ${type}\n` : ''}${lines.join('')}\n`;
}

function withEventEnd(text: string): string {
  return /\n\n$|\r\n\r\n$/.test(text) ? text : `${text.replace(/\r?\n$/, '')}\n\n`;
}
