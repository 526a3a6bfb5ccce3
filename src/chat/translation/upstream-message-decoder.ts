import { DeltaDocument, DeltaError, DeltaOperation, DeltaOperationName, isDeltaOperationName } from './delta-document';
import { SseEvent } from './sse-parser';
import { Citation, MessageKind, MessageView, StopReason, Thought, UpstreamUpdate } from './upstream-message';
import { withoutCredentials } from '../../common/util/secrets';

type JsonObject = Record<string, unknown>;

const TEXT_PATHS = new Set(['/message/content/parts/0', '/message/content/text']);
const THOUGHT_CONTENT_PATH = /^\/message\/content\/thoughts\/(0|[1-9]\d*)\/content$/;
const FILE_SCHEME = /^(?:file-service|sediment):\/\//;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function asObject(value: unknown): JsonObject {
  return isObject(value) ? value : {};
}

function isDone(data: string): boolean {
  return data.length < 16 && data.trim() === '[DONE]';
}

/** Events carry `"error": null` when all is well. */
function isError(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '';
}

function parseJson(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}

function textOf(content: JsonObject): string {
  const text = asString(content.text);
  if (text !== undefined) return text;
  const parts = content.parts;
  return Array.isArray(parts) ? (asString(parts[0]) ?? '') : '';
}

function kindOf(role: string | undefined, content: JsonObject, metadata: JsonObject, recipient: string | undefined): MessageKind {
  const contentType = asString(content.content_type);
  if (contentType === 'thoughts') return { type: 'thoughts' };
  if (contentType === 'reasoning_recap') return { type: 'recap', text: asString(content.content) ?? '' };
  if (role === 'tool') {
    if (contentType === 'execution_output') return { type: 'tool_output' };
    const caption = asString(metadata.initial_text);
    const finishedText = asString(metadata.finished_text);
    // Tool messages without a caption are written for the model (e.g. "DALL·E displayed 1 images…").
    return caption || finishedText ? { type: 'tool_activity', caption, finishedText } : { type: 'hidden' };
  }
  const addressedToTool = recipient !== undefined && recipient !== 'all';
  if (contentType === 'code') {
    const language = asString(content.language);
    // The image prompt is labelled with its tool (openai-api.md §6) whatever language the code claims.
    const label =
      recipient === 'dalle.text2im' ? recipient : language && language !== 'unknown' ? language : addressedToTool ? recipient : '';
    return { type: 'code', label };
  }
  if (contentType === 'text' || contentType === 'multimodal_text') {
    return addressedToTool ? { type: 'code', label: recipient } : { type: 'text' };
  }
  return { type: 'hidden' };
}

function thoughtsOf(content: JsonObject): Thought[] {
  const thoughts = content.thoughts;
  if (!Array.isArray(thoughts)) return [];
  return thoughts.map((item) => {
    const thought = asObject(item);
    return { summary: asString(thought.summary) ?? '', content: asString(thought.content) ?? '' };
  });
}

function citationsOf(metadata: JsonObject): Citation[] {
  const citations = metadata.citations;
  if (!Array.isArray(citations)) return [];
  return citations.map((item) => {
    const citation = asObject(item);
    const source = isObject(citation.metadata) ? citation.metadata : citation;
    return { url: asString(source.url) || undefined, title: asString(source.title) ?? '' };
  });
}

function imagesOf(content: JsonObject): string[] {
  const parts = content.parts;
  if (content.content_type !== 'multimodal_text' || !Array.isArray(parts)) return [];
  const images: string[] = [];
  for (const part of parts) {
    if (!isObject(part) || part.content_type !== 'image_asset_pointer') continue;
    const pointer = asString(part.asset_pointer);
    if (pointer) images.push(pointer.replace(FILE_SCHEME, ''));
  }
  return images;
}

function stopReasonOf(metadata: JsonObject): StopReason | undefined {
  const type = asString(asObject(metadata.finish_details).type);
  if (type === undefined) return undefined;
  return type === 'max_tokens' ? 'length' : type === 'interrupted' ? 'interrupted' : 'stop';
}

/** Reads an upstream message object (upstream-protocol.md §7) into the fields the answer needs. */
export function readMessage(message: JsonObject): MessageView {
  const content = asObject(message.content);
  const metadata = asObject(message.metadata);
  const role = asString(asObject(message.author).role);
  const status = asString(message.status);
  return {
    id: asString(message.id) ?? '',
    role,
    kind: kindOf(role, content, metadata, asString(message.recipient)),
    text: textOf(content),
    thoughts: thoughtsOf(content),
    citations: citationsOf(metadata),
    images: imagesOf(content),
    finished: status !== undefined && status.startsWith('finished'),
    endTurn: message.end_turn === true,
    stopReason: stopReasonOf(metadata),
  };
}

function errorUpdate(error: unknown): UpstreamUpdate {
  const details = asObject(error);
  const message = asString(error) ?? asString(details.message) ?? asString(details.detail) ?? JSON.stringify(error) ?? 'upstream error';
  // The upstream's own code when it gives one (more precise), else the code of an in-band stream error (openai-api.md §6.4).
  const code = asString(details.code) ?? asString(details.type) ?? 'upstream_stream_error';
  // Shown to the client as it is: no credential an upstream or a relay might echo goes with it.
  return { type: 'error', message: withoutCredentials(message), code };
}

/**
 * Reads one upstream conversation stream into typed updates (openai-api.md §6).
 *
 * The format is decided per stream from what arrives: `event: delta_encoding` or `event: delta` events mean the
 * v1 delta encoding (upstream-delta-encoding.md), anything else the classic snapshots (upstream-protocol.md §7).
 * Both yield the state of the message after each event. In delta mode an `append` to a text is also reported as
 * it came, so that a long answer costs linear time downstream.
 */
export class UpstreamMessageDecoder {
  private deltaMode = false;
  private readonly documents = new Map<unknown, DeltaDocument>();
  private counter: unknown = 0;
  /** The last delta that named its path and operation, for bare `{"v": …}` deltas. */
  private previousDelta?: { p: string; o: DeltaOperationName };
  /** The last non-patch delta applied, which a bare `{"v": …}` after a patch repeats. */
  private previousLeaf?: { p: string; o: DeltaOperationName };
  private _conversationId?: string;
  private updates: UpstreamUpdate[] = [];

  get conversationId(): string | undefined {
    return this._conversationId;
  }

  decode(event: SseEvent): UpstreamUpdate[] {
    this.updates = [];
    if (event.event === 'delta_encoding') {
      this.deltaMode = true;
    } else if (isDone(event.data)) {
      this.updates.push({ type: 'done' });
    } else {
      const data = parseJson(event.data);
      if (data === 'v1') {
        this.deltaMode = true;
      } else if (isObject(data)) {
        const looksLikeDelta = 'v' in data || 'o' in data || 'p' in data;
        if (looksLikeDelta && (event.event === 'delta' || this.deltaMode) && !('type' in data)) {
          this.deltaMode = true;
          this.readDelta(data);
        } else {
          this.readEvent(data);
        }
      }
    }
    return this.updates;
  }

  /** A classic snapshot, a typed event, an error, or (after each delta) the delta document, all shaped alike. */
  private readEvent(data: JsonObject): void {
    const conversationId = asString(data.conversation_id);
    if (conversationId) this._conversationId = conversationId;
    if (isError(data.error)) {
      this.updates.push(errorUpdate(data.error));
      return;
    }
    if (data.type === 'moderation') {
      const response = asObject(data.moderation_response);
      // A moderation event that says it blocked (or, lacking `blocked`, flagged) nothing is only a report.
      if ((response.blocked ?? response.flagged ?? true) === true) this.updates.push({ type: 'moderated' });
      return;
    }
    if (typeof data.type === 'string') return;
    if (isObject(data.message))
      this.updates.push({ type: 'message', message: readMessage(data.message), conversationId: this._conversationId });
  }

  private readDelta(data: JsonObject): void {
    if ('c' in data) this.counter = data.c;
    const delta = this.resolveDelta(data);
    if (!delta) return;
    if (delta.p === '' && delta.o === 'add') {
      this.documents.set(this.counter, new DeltaDocument(delta.v));
      this.previousLeaf = { p: delta.p, o: delta.o };
    } else {
      const document = this.documents.get(this.counter);
      if (!document) return;
      try {
        document.apply(delta, (applied) => this.deltaApplied(document, applied));
      } catch (error) {
        if (!(error instanceof DeltaError)) throw error;
        // A delta that does not fit the document is skipped, like one that does not parse.
      }
    }
    // The document is `{message, conversation_id, error}` like a classic event, without a `type`.
    const document = asObject(this.documents.get(this.counter)?.value);
    this.readEvent({ conversation_id: document.conversation_id, error: document.error, message: document.message });
  }

  /** Fills in a bare `{"v": …}` from the delta before it. */
  private resolveDelta(data: JsonObject): DeltaOperation | undefined {
    if (data.p === undefined && data.o === undefined) {
      const previous = Array.isArray(data.v) && this.previousDelta?.o === 'patch' ? this.previousDelta : this.previousLeaf;
      return previous && { p: previous.p, o: previous.o, v: data.v };
    }
    const p = data.p === undefined ? '' : asString(data.p);
    const o = data.o === undefined ? this.previousLeaf?.o : data.o;
    if (p === undefined || !isDeltaOperationName(o)) return undefined;
    this.previousDelta = { p, o };
    return { p, o, v: data.v };
  }

  private deltaApplied(document: DeltaDocument, applied: DeltaOperation): void {
    this.previousLeaf = { p: applied.p, o: applied.o };
    if (applied.o !== 'append' || typeof applied.v !== 'string') return;
    const message = asObject(asObject(document.value).message);
    if (TEXT_PATHS.has(applied.p)) {
      this.updates.push({ type: 'text_appended', message: readMessage(message), text: applied.v });
      return;
    }
    const thought = THOUGHT_CONTENT_PATH.exec(applied.p);
    if (thought) this.updates.push({ type: 'thought_appended', message: readMessage(message), index: Number(thought[1]), text: applied.v });
  }
}
