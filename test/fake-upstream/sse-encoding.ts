/**
 * Turns an answer plan into the upstream's SSE frames, in the classic cumulative-snapshot format
 * (upstream-protocol.md §7) or in the v1 delta format (upstream-delta-encoding.md). Both formats are
 * generated from the same operations, so they always describe the same answer.
 */

export interface DeltaOp {
  p: string;
  o: 'append' | 'replace' | 'add' | 'truncate' | 'remove' | 'patch';
  v: unknown;
}

export type UpstreamMessage = Record<string, unknown> & { id: string };

/** One message of the answer: its first state, what each streamed event adds, and how it finishes. */
export interface MessagePlan {
  kind: 'message';
  initial: UpstreamMessage;
  /** Each entry is one event: the operations it applies (usually one text append). */
  chunks: DeltaOp[][];
  /** Applied with the last chunk (or alone): status, end_turn, final metadata. */
  final: DeltaOp[];
}

/** A non-delta event (`type` field, or an `error` event), sent as a plain `data:` line in both formats. */
export interface EventPlan {
  kind: 'event';
  payload: Record<string, unknown>;
}

export type AnswerStep = MessagePlan | EventPlan;

export interface SseFrame {
  text: string;
  /** True for events that carry the answer's content: what `afterChunks` counts. */
  content: boolean;
}

export interface StreamContext {
  conversationId: string;
  /** The user's message, echoed first (classic) or as an `input_message` event (delta). */
  userMessage: UpstreamMessage | null;
  steps: AnswerStep[];
  /** Events sent after the answer and before the end (title generation and the like). */
  trailer: Record<string, unknown>[];
}

const data = (payload: unknown): string => `data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n\n`;
const delta = (payload: unknown): string => `event: delta\ndata: ${JSON.stringify(payload)}\n\n`;

/** Applies one delta operation to a document, as the upstream's client does. */
export function applyDelta(doc: Record<string, unknown>, op: DeltaOp): Record<string, unknown> {
  if (op.o === 'patch') {
    let current = doc;
    for (const inner of op.v as DeltaOp[]) current = applyDelta(current, inner);
    return current;
  }
  if (op.p === '') {
    if (op.o === 'add' || op.o === 'replace') return structuredClone(op.v) as Record<string, unknown>;
    throw new Error(`unsupported root operation ${op.o}`);
  }
  const keys = op.p
    .split('/')
    .slice(1)
    .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
  const last = keys.pop() as string;
  let parent: Record<string, unknown> = doc;
  for (const key of keys) {
    if (parent[key] === undefined || parent[key] === null) parent[key] = {};
    parent = parent[key] as Record<string, unknown>;
  }
  const current = parent[last];
  switch (op.o) {
    case 'add':
    case 'replace':
      parent[last] = structuredClone(op.v);
      break;
    case 'remove':
      delete parent[last];
      break;
    case 'truncate':
      parent[last] = (current as string | unknown[]).slice(0, op.v as number);
      break;
    case 'append':
      if (typeof current === 'string') parent[last] = current + (op.v as string);
      else if (Array.isArray(current)) current.push(...structuredClone(op.v as unknown[]));
      else if (current && typeof current === 'object') Object.assign(current, structuredClone(op.v));
      else parent[last] = structuredClone(op.v);
      break;
  }
  return doc;
}

function envelope(message: UpstreamMessage, conversationId: string): Record<string, unknown> {
  return { message, conversation_id: conversationId, error: null };
}

/** Classic: every event repeats the whole message so far. */
export function* encodeClassic(ctx: StreamContext): Generator<SseFrame> {
  if (ctx.userMessage) yield { text: data(envelope(ctx.userMessage, ctx.conversationId)), content: false };
  for (const step of ctx.steps) {
    if (step.kind === 'event') {
      yield { text: data(step.payload), content: false };
      continue;
    }
    let doc: Record<string, unknown> = envelope(structuredClone(step.initial), ctx.conversationId);
    const { chunks } = step;
    if (chunks.length === 0) yield { text: data(doc), content: true };
    for (let i = 0; i < chunks.length; i++) {
      for (const op of chunks[i]) doc = applyDelta(doc, op);
      if (i === chunks.length - 1) break;
      yield { text: data(doc), content: true };
    }
    for (const op of step.final) doc = applyDelta(doc, op);
    yield { text: data(doc), content: true };
  }
  for (const event of ctx.trailer) yield { text: data(event), content: false };
  yield { text: data('[DONE]'), content: false };
}

/** v1: an `add` per message, then only what changed; a bare `{"v"}` repeats the previous path and operation. */
export function* encodeDelta(ctx: StreamContext): Generator<SseFrame> {
  yield { text: `event: delta_encoding\ndata: "v1"\n\n`, content: false };
  if (ctx.userMessage) {
    yield {
      text: data({ type: 'input_message', input_message: ctx.userMessage, conversation_id: ctx.conversationId }),
      content: false,
    };
  }
  let previous: { p: string; o: string } | null = null;
  let counter = 0;
  const emit = (ops: DeltaOp[], extra: Record<string, unknown> = {}): string => {
    if (ops.length === 1 && Object.keys(extra).length === 0) {
      const [op] = ops;
      const bare = previous !== null && previous.p === op.p && previous.o === op.o;
      previous = { p: op.p, o: op.o };
      return delta(bare ? { v: op.v } : op);
    }
    const single = ops.length === 1 ? ops[0] : { p: '', o: 'patch' as const, v: ops };
    previous = { p: single.p, o: single.o };
    return delta({ ...single, ...extra });
  };
  for (const step of ctx.steps) {
    if (step.kind === 'event') {
      yield { text: data(step.payload), content: false };
      continue;
    }
    const add: DeltaOp = { p: '', o: 'add', v: envelope(step.initial, ctx.conversationId) };
    yield { text: emit([add], { c: counter++ }), content: step.chunks.length === 0 };
    const { chunks } = step;
    for (let i = 0; i < chunks.length - 1; i++) yield { text: emit(chunks[i]), content: true };
    const last = chunks.length > 0 ? chunks[chunks.length - 1] : [];
    yield { text: emit([...last, ...step.final]), content: true };
  }
  for (const event of ctx.trailer) yield { text: data(event), content: false };
  yield { text: data({ type: 'message_stream_complete', conversation_id: ctx.conversationId }), content: false };
  yield { text: data('[DONE]'), content: false };
}
