import { randomUUID } from 'node:crypto';
import type { AnswerStep, DeltaOp, MessagePlan, UpstreamMessage } from './sse-encoding';

/** What the next /conversation request answers (consumed FIFO; a default text answer when none is queued). */
export type Scenario =
  | {
      kind: 'text';
      text: string;
      chunks?: number;
      delayMs?: number;
      finish?: 'stop' | 'max_tokens' | 'interrupted';
      model?: string;
      /** Starts the first piece with `[sent-at <ms>]`, the moment it is written (see SENT_AT_PATTERN). */
      stampSendTime?: boolean;
    }
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'cf_challenge' }
  | { kind: 'cut'; text: string; afterChunks: number }
  | { kind: 'stall'; text?: string; afterChunks?: number; stallMs: number }
  | { kind: 'error_event'; text?: string; message: string }
  | { kind: 'moderation' }
  | { kind: 'json_instead_of_stream'; status?: number; body: unknown }
  /** An event stream that ends before any message: only `data: [DONE]`. */
  | { kind: 'no_answer' }
  | { kind: 'code'; code: string; language?: string; output: string; text: string; sandboxFile?: string }
  | { kind: 'browse'; initialText: string; finishedText: string; text: string; citations?: { url: string; title: string }[] }
  | { kind: 'reasoning'; thoughts: { summary: string; content: string }[]; seconds: number; text: string }
  | { kind: 'image'; prompt: string; fileIds?: string[] }
  | { kind: 'long'; chars: number; chunkChars?: number }
  /** Decides the answer from the messages the conversation request carries (see tool-scenarios.ts). */
  | { kind: 'respond'; respond: (messages: ReceivedMessage[]) => Scenario };

/** A message of a conversation request as the fake's responders see it: the role and the text parts joined. */
export interface ReceivedMessage {
  role: string;
  text: string;
}

export type StreamScenario = Exclude<
  Scenario,
  { kind: 'status' } | { kind: 'cf_challenge' } | { kind: 'json_instead_of_stream' } | { kind: 'no_answer' } | { kind: 'respond' }
>;

/** Runs a `respond` scenario against the request's messages (once: a responder answers with a concrete scenario). */
export function resolveScenario(scenario: Scenario, messages: unknown[]): Exclude<Scenario, { kind: 'respond' }> {
  if (scenario.kind !== 'respond') return scenario;
  const resolved = scenario.respond(messages.map(receivedMessage));
  if (resolved.kind === 'respond') throw new Error('a responder must answer with a concrete scenario');
  return resolved;
}

function receivedMessage(message: unknown): ReceivedMessage {
  const m = message as { author?: { role?: unknown }; content?: { parts?: unknown[] } };
  const parts = Array.isArray(m.content?.parts) ? m.content.parts : [];
  return {
    role: typeof m.author?.role === 'string' ? m.author.role : 'user',
    text: parts.filter((part): part is string => typeof part === 'string').join('\n'),
  };
}

export interface AnswerInput {
  scenario: StreamScenario;
  conversationId: string;
  userMessage: UpstreamMessage;
  /** The slug the answer reports in `metadata.model_slug`. */
  modelSlug: string;
  requestedModel: string;
  /** Registers a generated image the answer refers to, so the download endpoints can serve it; returns its size. */
  registerGeneratedFile(fileId: string, name: string): number;
  /** Registers a code-interpreter output under the conversation. */
  registerSandboxFile(path: string, content: string): void;
}

export interface AnswerPlan {
  steps: AnswerStep[];
  /** Written as the send time (`sentAtStamp`) wherever it appears in a frame of the stream. */
  sendTimePlaceholder?: string;
  /** Destroy the socket after this many content events. */
  cutAfterChunks?: number;
  /** Go silent for `ms` after `afterChunks` content events. */
  stall?: { afterChunks: number; ms: number };
  delayMs?: number;
}

/**
 * A `stampSendTime` answer's first piece starts with this: `performance.timeOrigin + performance.now()` in the
 * fake's process when the frame carrying it was written, so that a client on the same machine can measure how
 * long the piece took to reach it (`npm run bench`).
 */
export const SENT_AT_PATTERN = /\[sent-at (\d+(?:\.\d+)?)\]/;
const SEND_TIME_PLACEHOLDER = '[sent-at ?]';

export function sentAtStamp(): string {
  return `[sent-at ${(performance.timeOrigin + performance.now()).toFixed(3)}]`;
}

const STOP_TOKENS = [200002];
const TOOL_CALL_STOP_TOKENS = [200007];

export function upstreamMessage(fields: {
  role: string;
  name?: string;
  content: Record<string, unknown>;
  recipient?: string;
  status?: string;
  metadata?: Record<string, unknown>;
}): UpstreamMessage {
  return {
    id: randomUUID(),
    author: { role: fields.role, name: fields.name ?? null, metadata: {} },
    create_time: Date.now() / 1000,
    update_time: null,
    content: fields.content,
    status: fields.status ?? 'in_progress',
    end_turn: null,
    weight: 1.0,
    metadata: fields.metadata ?? {},
    recipient: fields.recipient ?? 'all',
    channel: null,
  };
}

/** One piece per word (whitespace kept), or `count` near-equal pieces; always joins back to `text`. */
export function splitText(text: string, count?: number): string[] {
  if (text === '') return [];
  if (count === undefined) return text.match(/\S+\s*|\s+/g) ?? [text];
  const chars = Array.from(text);
  const n = Math.max(1, Math.min(count, chars.length));
  const pieces: string[] = [];
  for (let i = 0; i < n; i++)
    pieces.push(chars.slice(Math.floor((i * chars.length) / n), Math.floor(((i + 1) * chars.length) / n)).join(''));
  return pieces;
}

function splitBySize(text: string, size: number): string[] {
  const chars = Array.from(text);
  const pieces: string[] = [];
  for (let i = 0; i < chars.length; i += size) pieces.push(chars.slice(i, i + size).join(''));
  return pieces;
}

const appendOps = (path: string, pieces: unknown[]): DeltaOp[][] => pieces.map((v) => [{ p: path, o: 'append', v }]);

function finishOps(status: string, endTurn: boolean | null, metadata: Record<string, unknown>): DeltaOp[] {
  return [
    { p: '/message/status', o: 'replace', v: status },
    { p: '/message/end_turn', o: 'replace', v: endTurn },
    { p: '/message/metadata', o: 'append', v: { is_complete: true, ...metadata } },
  ];
}

function assistantMetadata(input: AnswerInput, parentId: string): Record<string, unknown> {
  return {
    citations: [],
    content_references: [],
    message_type: 'next',
    model_slug: input.modelSlug,
    default_model_slug: input.requestedModel,
    parent_id: parentId,
    model_switcher_deny: [],
  };
}

interface TextPlanOptions {
  pieces: string[];
  finish?: 'stop' | 'max_tokens' | 'interrupted' | 'unfinished';
  /** Extra operations per chunk index (citations growing with the text). */
  extraOps?: (sentChars: number, chunkIndex: number) => DeltaOp[];
}

function textPlan(input: AnswerInput, parentId: string, opts: TextPlanOptions): MessagePlan {
  const initial = upstreamMessage({
    role: 'assistant',
    content: { content_type: 'text', parts: [''] },
    metadata: assistantMetadata(input, parentId),
  });
  let sent = 0;
  const chunks = opts.pieces.map((piece, i): DeltaOp[] => {
    sent += piece.length;
    return [{ p: '/message/content/parts/0', o: 'append', v: piece }, ...(opts.extraOps?.(sent, i) ?? [])];
  });
  const finish = opts.finish ?? 'stop';
  let final: DeltaOp[] = [];
  if (finish === 'stop') {
    final = finishOps('finished_successfully', true, { finish_details: { type: 'stop', stop_tokens: STOP_TOKENS } });
  } else if (finish !== 'unfinished') {
    final = finishOps('finished_partial_completion', false, { finish_details: { type: finish } });
  }
  return { kind: 'message', initial, chunks, final };
}

function toolCallPlan(input: AnswerInput, parentId: string, recipient: string, language: string, code: string): MessagePlan {
  const initial = upstreamMessage({
    role: 'assistant',
    content: { content_type: 'code', language, response_format_name: null, text: '' },
    recipient,
    metadata: assistantMetadata(input, parentId),
  });
  return {
    kind: 'message',
    initial,
    chunks: appendOps('/message/content/text', splitText(code)),
    final: finishOps('finished_successfully', false, { finish_details: { type: 'stop', stop_tokens: TOOL_CALL_STOP_TOKENS } }),
  };
}

const LONG_WORDS = (
  'the quick brown fox jumps over a lazy dog while seven wizards quietly judge boxing matches near ' +
  'the old harbour and every sailor counts waves until morning light returns across calm water'
).split(' ');

/** Deterministic prose of exactly `chars` characters. */
export function longText(chars: number): string {
  let out = '';
  for (let i = 0; out.length < chars; i++) {
    out += LONG_WORDS[(i * 7) % LONG_WORDS.length] + ((i + 1) % 12 === 0 ? '.\n\n' : ' ');
  }
  return out.slice(0, chars);
}

export function buildAnswer(input: AnswerInput): AnswerPlan {
  const s = input.scenario;
  const userId = input.userMessage.id;
  const steps: AnswerStep[] = [];
  switch (s.kind) {
    case 'text': {
      const pieces = splitText(s.text, s.chunks);
      if (!s.stampSendTime) {
        steps.push(textPlan(input, userId, { pieces, finish: s.finish }));
        return { steps, delayMs: s.delayMs };
      }
      pieces[0] = `${SEND_TIME_PLACEHOLDER} ${pieces[0] ?? ''}`;
      steps.push(textPlan(input, userId, { pieces, finish: s.finish }));
      return { steps, delayMs: s.delayMs, sendTimePlaceholder: SEND_TIME_PLACEHOLDER };
    }
    case 'long':
      steps.push(textPlan(input, userId, { pieces: splitBySize(longText(s.chars), s.chunkChars ?? 48) }));
      return { steps };
    case 'cut':
      steps.push(textPlan(input, userId, { pieces: splitText(s.text) }));
      return { steps, cutAfterChunks: s.afterChunks };
    case 'stall':
      steps.push(textPlan(input, userId, { pieces: splitText(s.text ?? 'This answer pauses for a while before it ends.') }));
      return { steps, stall: { afterChunks: s.afterChunks ?? 1, ms: s.stallMs } };
    case 'error_event':
      if (s.text) steps.push(textPlan(input, userId, { pieces: splitText(s.text), finish: 'unfinished' }));
      steps.push({ kind: 'event', payload: { message: null, conversation_id: input.conversationId, error: s.message } });
      return { steps };
    case 'moderation':
      steps.push({
        kind: 'event',
        payload: {
          type: 'moderation',
          moderation_response: { flagged: true, blocked: true, moderation_id: `modr-${randomUUID()}` },
          conversation_id: input.conversationId,
          message_id: userId,
        },
      });
      return { steps };
    case 'code':
      return { steps: codeSteps(input, s) };
    case 'browse':
      return { steps: browseSteps(input, s) };
    case 'reasoning':
      return { steps: reasoningSteps(input, s) };
    case 'image':
      return { steps: imageSteps(input, s) };
  }
}

function codeSteps(input: AnswerInput, s: Extract<Scenario, { kind: 'code' }>): AnswerStep[] {
  const call = toolCallPlan(input, input.userMessage.id, 'python', s.language ?? 'python', s.code);
  const now = Date.now() / 1000;
  const output = upstreamMessage({
    role: 'tool',
    name: 'python',
    content: { content_type: 'execution_output', text: s.output },
    metadata: { parent_id: call.initial.id, model_slug: input.modelSlug },
  });
  const aggregate = {
    status: 'success',
    run_id: randomUUID(),
    start_time: now,
    update_time: now + 0.5,
    code: s.code,
    end_time: now + 0.5,
    final_expression_output: null,
    in_kernel_exception: null,
    system_exception: null,
    messages: s.output ? [{ message_type: 'stream', time: now + 0.4, stream_name: 'stdout', sender: 'server', text: s.output }] : [],
    jupyter_messages: [],
    timeout_triggered: null,
  };
  const outputPlan: MessagePlan = {
    kind: 'message',
    initial: output,
    chunks: [],
    final: finishOps('finished_successfully', null, { aggregate_result: aggregate }),
  };
  let text = s.text;
  if (s.sandboxFile) {
    input.registerSandboxFile(s.sandboxFile, s.output);
    if (!text.includes(`sandbox:${s.sandboxFile}`)) {
      text += `\n\n[Download ${s.sandboxFile.split('/').pop()}](sandbox:${s.sandboxFile})`;
    }
  }
  return [call, outputPlan, textPlan(input, output.id, { pieces: splitText(text) })];
}

function browseSteps(input: AnswerInput, s: Extract<Scenario, { kind: 'browse' }>): AnswerStep[] {
  const first = (input.userMessage.content as { parts?: unknown[] }).parts?.[0];
  const query = (typeof first === 'string' ? first : '').slice(0, 100);
  const call = toolCallPlan(input, input.userMessage.id, 'browser', 'unknown', `search(${JSON.stringify(query)})`);
  const citations = s.citations ?? [];
  const results = citations.map((c, i) => `# 【${i}†${c.title}†${new URL(c.url).host}】\n${c.title}`).join('\n');
  const tool = upstreamMessage({
    role: 'tool',
    name: 'browser',
    content: { content_type: 'tether_browsing_display', result: '', summary: '', assets: null, tether_id: null },
    metadata: { command: 'search', args: [query], status: 'running', initial_text: s.initialText, parent_id: call.initial.id },
  });
  const toolPlan: MessagePlan = {
    kind: 'message',
    initial: tool,
    chunks: results ? [[{ p: '/message/content/result', o: 'append', v: results }]] : [],
    final: finishOps('finished_successfully', null, { status: 'finished', finished_text: s.finishedText }),
  };
  // A citation spans its 【i†source】 marker when the text has one, else it points at the end of the text.
  const spans = citations.map((c, i) => {
    const marker = new RegExp(`【${i}†[^】]*】`).exec(s.text);
    const start = marker ? marker.index : s.text.length;
    const end = marker ? marker.index + marker[0].length : s.text.length;
    return {
      start_ix: start,
      end_ix: end,
      citation_format_type: 'tether_og',
      metadata: {
        type: 'webpage',
        title: c.title,
        url: c.url,
        text: '',
        pub_date: null,
        extra: { cited_message_idx: 1, search_result_idx: null, evidence_text: 'source' },
      },
    };
  });
  const pieces = splitText(s.text);
  const added = new Set<number>();
  const extraOps = (sentChars: number, chunkIndex: number): DeltaOp[] => {
    const isLast = chunkIndex === pieces.length - 1;
    const ready = spans.filter((span, i) => !added.has(i) && (span.end_ix <= sentChars || isLast));
    ready.forEach((span) => added.add(spans.indexOf(span)));
    return ready.length ? [{ p: '/message/metadata/citations', o: 'append', v: ready }] : [];
  };
  return [call, toolPlan, textPlan(input, tool.id, { pieces, extraOps })];
}

function reasoningSteps(input: AnswerInput, s: Extract<Scenario, { kind: 'reasoning' }>): AnswerStep[] {
  const thoughts = upstreamMessage({
    role: 'assistant',
    content: { content_type: 'thoughts', thoughts: [], source_analysis_msg_id: input.userMessage.id },
    metadata: { ...assistantMetadata(input, input.userMessage.id), reasoning_status: 'is_reasoning' },
  });
  const thoughtsPlan: MessagePlan = {
    kind: 'message',
    initial: thoughts,
    chunks: s.thoughts.map((t) => [
      { p: '/message/content/thoughts', o: 'append', v: [{ summary: t.summary, content: t.content, chunks: [], finished: true }] },
    ]),
    final: finishOps('finished_successfully', false, {}),
  };
  const recap = upstreamMessage({
    role: 'assistant',
    content: { content_type: 'reasoning_recap', content: `Thought for ${s.seconds} seconds` },
    metadata: {
      ...assistantMetadata(input, thoughts.id),
      reasoning_status: 'reasoning_ended',
      finished_duration_sec: s.seconds,
    },
  });
  const recapPlan: MessagePlan = { kind: 'message', initial: recap, chunks: [], final: finishOps('finished_successfully', false, {}) };
  return [thoughtsPlan, recapPlan, textPlan(input, recap.id, { pieces: splitText(s.text) })];
}

function imageSteps(input: AnswerInput, s: Extract<Scenario, { kind: 'image' }>): AnswerStep[] {
  const call = toolCallPlan(
    input,
    input.userMessage.id,
    'dalle.text2im',
    'json',
    JSON.stringify({ prompt: s.prompt, size: '1024x1024' }, null, 2),
  );
  const fileIds = s.fileIds ?? [`file-${randomUUID().replace(/-/g, '').slice(0, 22)}`];
  const pointers = fileIds.map((id, i) => {
    const size = input.registerGeneratedFile(id, `image-${i + 1}.png`);
    return {
      content_type: 'image_asset_pointer',
      asset_pointer: `file-service://${id}`,
      size_bytes: size,
      width: 1024,
      height: 1024,
      fovea: 512,
      metadata: {
        dalle: {
          gen_id: id.replace(/^file-/, '').slice(0, 16),
          prompt: s.prompt,
          seed: 1234567890 + i,
          parent_gen_id: null,
          edit_op: null,
          serialization_title: 'DALL-E generation metadata',
        },
        gizmo: null,
        sanitized: false,
      },
    };
  });
  const tool = upstreamMessage({
    role: 'tool',
    name: 'dalle.text2im',
    content: { content_type: 'multimodal_text', parts: [] },
    metadata: { parent_id: call.initial.id, model_slug: input.modelSlug },
  });
  const toolPlan: MessagePlan = {
    kind: 'message',
    initial: tool,
    chunks: [[{ p: '/message/content/parts', o: 'append', v: pointers }]],
    final: finishOps('finished_successfully', null, {}),
  };
  return [call, toolPlan];
}
