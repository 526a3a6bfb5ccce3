import { DeltaDocument, DeltaError, DeltaOperation, DeltaOperationName, isDeltaOperationName } from './delta-document';
import { SseEvent } from './sse-parser';

/** What the client sees when the upstream's content filter fires (openai-api.md §6). */
export const MODERATION_TEXT =
  "I'm sorry, I cannot provide or engage in any content related to pornography, violence, or any unethical material. " +
  'If you have any other questions or need assistance, please feel free to let me know. ' +
  "I'll do my best to provide support and assistance.";

/**
 * One piece of the answer, in order. Content and reasoning are text to send as they are; the media pieces
 * need a download URL first. Every media piece starts a new paragraph (the translator has already sent the
 * line break before it), so the service can write `![image](url)` / `![File n](url)` directly.
 */
export type TranslatedPiece =
  | { type: 'content'; text: string }
  | { type: 'reasoning'; text: string }
  /** A generated image: the asset pointer without its `file-service://` (or `sediment://`) scheme. */
  | { type: 'image'; fileId: string }
  /** A `(sandbox:/mnt/data/…)` link in the final answer: `path` is the sandbox path, `/mnt/data/…`. */
  | { type: 'sandbox_file'; path: string; messageId: string }
  | { type: 'finish'; reason: 'stop' | 'length' }
  /** An `{"error": …}` event: the answer is over, and nothing more is translated. */
  | { type: 'error'; message: string; code: string }
  /** The ids to continue the conversation with; sent again whenever a newer message appears. */
  | { type: 'conversation'; conversationId: string; messageId: string };

export interface UpstreamStreamTranslatorOptions {
  moderationText?: string;
}

type FinishReason = 'stop' | 'length';
type JsonObject = Record<string, unknown>;

/** How a message shows in the answer. */
type MessageKind =
  | { show: 'text' }
  | { show: 'fence'; label: string }
  | { show: 'caption'; caption?: string; finishedText?: string }
  | { show: 'thoughts' }
  | { show: 'recap' }
  | { show: 'nothing' };

/** The fields of an upstream message object the translator reads. */
interface MessageView {
  id: string;
  role?: string;
  contentType?: string;
  content: JsonObject;
  metadata: JsonObject;
  recipient?: string;
  finished: boolean;
  endTurn: boolean;
}

interface ThoughtProgress {
  opened: boolean;
  sent: number;
}

/** What has been sent of one upstream message. */
interface MessageTrack {
  id: string;
  message: MessageView;
  opened: boolean;
  sent: number;
  citations: number;
  thoughts: ThoughtProgress[];
  finishedTextSent: boolean;
  recapSent: boolean;
  imagesSent: boolean;
}

const TEXT_PATHS = new Set(['/message/content/parts/0', '/message/content/text']);
const THOUGHT_CONTENT_PATH = /^\/message\/content\/thoughts\/(0|[1-9]\d*)\/content$/;
const SANDBOX_LINK = /\(sandbox:(\/mnt\/data\/[^)\n]+)\)/g;
const FILE_SCHEME = /^(?:file-service|sediment):\/\//;
const FENCE = '```';

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

function viewOf(message: JsonObject): MessageView {
  const content = asObject(message.content);
  const status = asString(message.status);
  return {
    id: asString(message.id) ?? '',
    role: asString(asObject(message.author).role),
    contentType: asString(content.content_type),
    content,
    metadata: asObject(message.metadata),
    recipient: asString(message.recipient),
    finished: status !== undefined && status.startsWith('finished'),
    endTurn: message.end_turn === true,
  };
}

/** The message's growing text: `content.text` for code and outputs, else the first part when it is a string. */
function mainText(message: MessageView): string {
  const text = asString(message.content.text);
  if (text !== undefined) return text;
  const parts = message.content.parts;
  return Array.isArray(parts) ? (asString(parts[0]) ?? '') : '';
}

function kindOf(message: MessageView): MessageKind {
  const { role, contentType, metadata, recipient } = message;
  if (contentType === 'thoughts') return { show: 'thoughts' };
  if (contentType === 'reasoning_recap') return { show: 'recap' };
  if (role === 'tool') {
    if (contentType === 'execution_output') return { show: 'fence', label: 'Output' };
    const caption = asString(metadata.initial_text);
    const finishedText = asString(metadata.finished_text);
    // Tool messages without a caption are written for the model (e.g. "DALL·E displayed 1 images…").
    return caption || finishedText ? { show: 'caption', caption, finishedText } : { show: 'nothing' };
  }
  const addressedToTool = recipient !== undefined && recipient !== 'all';
  if (contentType === 'code') {
    const language = asString(message.content.language);
    // The image prompt is labelled with its tool (openai-api.md §6) whatever language the code claims.
    const label = recipient === 'dalle.text2im' ? recipient : language && language !== 'unknown' ? language : addressedToTool ? recipient : '';
    return { show: 'fence', label };
  }
  if (contentType === 'text' || contentType === 'multimodal_text') {
    return addressedToTool ? { show: 'fence', label: recipient } : { show: 'text' };
  }
  return { show: 'nothing' };
}

function finishReasonOf(message: MessageView): FinishReason | undefined {
  const type = asString(asObject(message.metadata.finish_details).type);
  if (type === undefined) return undefined;
  return type === 'max_tokens' ? 'length' : 'stop';
}

/**
 * Turns one upstream conversation stream into the pieces of an OpenAI answer (openai-api.md §6).
 *
 * The format is decided per stream from what arrives: `event: delta_encoding` or `event: delta` events mean the
 * v1 delta encoding (upstream-delta-encoding.md), anything else the classic snapshots (upstream-protocol.md §7).
 * Both feed the same per-message bookkeeping: the text of a message is sent as it grows, counted in characters.
 * In delta mode an `append` to the text is sent as it came, so a long answer costs linear time; whole strings
 * are only re-read when a delta replaces or cuts the text.
 */
export class UpstreamStreamTranslator {
  private readonly moderationText: string;
  private deltaMode = false;
  private readonly documents = new Map<unknown, DeltaDocument>();
  private counter: unknown = 0;
  /** The last delta that named its path and operation, for bare `{"v": …}` deltas. */
  private previousDelta?: { p: string; o: DeltaOperationName };
  /** The last non-patch delta applied, which a bare `{"v": …}` after a patch repeats. */
  private previousLeaf?: { p: string; o: DeltaOperationName };

  private readonly tracks = new Map<string, MessageTrack>();
  private current?: MessageTrack;
  private fenceOwner?: MessageTrack;
  private announcedMessageId?: string;
  private contentSent = false;
  /** The last two characters of content sent, to put exactly one blank line between blocks. */
  private contentTail = '';
  private reasoningSent = false;
  private finishReason?: FinishReason;
  private answerComplete = false;
  private failed = false;
  private pieces: TranslatedPiece[] = [];

  private _answerStarted = false;
  private _finished = false;
  private _conversationId?: string;

  constructor(options: UpstreamStreamTranslatorOptions = {}) {
    this.moderationText = options.moderationText ?? MODERATION_TEXT;
  }

  /** True once an assistant or tool message has arrived: from here on the request must not be retried. */
  get answerStarted(): boolean {
    return this._answerStarted;
  }

  /** True once a finish piece has been emitted. */
  get finished(): boolean {
    return this._finished;
  }

  get conversationId(): string | undefined {
    return this._conversationId;
  }

  feed(event: SseEvent): TranslatedPiece[] {
    if (this._finished || this.failed) return [];
    if (event.event === 'delta_encoding') {
      this.deltaMode = true;
      return [];
    }
    if (isDone(event.data)) {
      this.finish(this.finishReason ?? 'stop');
      return this.takePieces();
    }
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
    return this.takePieces();
  }

  /**
   * The upstream closed. A finished answer whose `[DONE]` never came is finished now; an unfinished one is
   * left unfinished (see `finished`) for the caller to report as cut off.
   */
  end(): TranslatedPiece[] {
    if (this._finished || this.failed) return [];
    if (this.answerComplete) this.finish(this.finishReason ?? 'stop');
    return this.takePieces();
  }

  private takePieces(): TranslatedPiece[] {
    const pieces = this.pieces;
    this.pieces = [];
    return pieces;
  }

  // ---- the two wire formats ----

  /** A plain `data:` event: a classic snapshot, a typed event, or an error. */
  private readEvent(data: JsonObject): void {
    const conversationId = asString(data.conversation_id);
    if (conversationId) this._conversationId = conversationId;
    if (isError(data.error)) {
      this.fail(data.error);
      return;
    }
    if (data.type === 'moderation') {
      this.moderate(asObject(data.moderation_response));
      return;
    }
    if (typeof data.type === 'string') return;
    if (isObject(data.message)) this.observe(viewOf(data.message));
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
    this.readDocument(asObject(this.documents.get(this.counter)?.value));
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
      const track = this.currentTrackOf(message);
      if (track) this.sendText(track, viewOf(message), applied.v);
      return;
    }
    const thought = THOUGHT_CONTENT_PATH.exec(applied.p);
    if (thought) {
      const track = this.currentTrackOf(message);
      if (track) this.sendThoughts(track, viewOf(message), { index: Number(thought[1]), text: applied.v });
    }
  }

  /** After each delta: the document is `{message, conversation_id, error}` like a classic event. */
  private readDocument(document: JsonObject): void {
    const conversationId = asString(document.conversation_id);
    if (conversationId) this._conversationId = conversationId;
    if (isError(document.error)) {
      this.fail(document.error);
      return;
    }
    if (isObject(document.message)) this.observe(viewOf(document.message));
  }

  private currentTrackOf(message: JsonObject): MessageTrack | undefined {
    const track = this.tracks.get(asString(message.id) ?? '');
    return track && track === this.current ? track : undefined;
  }

  // ---- messages ----

  /** One state of a message: sends whatever of it is new. */
  private observe(message: MessageView): void {
    const track = this.trackFor(message);
    if (!track) return;
    track.message = message;
    const kind = kindOf(message);
    this.announce(track);

    switch (kind.show) {
      case 'text':
      case 'fence':
        this.sendText(track, message);
        if (kind.show === 'text') this.sendCitations(track, message);
        break;
      case 'caption':
        this.open(track, kind);
        this.sendText(track, message);
        if (message.finished && kind.finishedText && !track.finishedTextSent) {
          track.finishedTextSent = true;
          this.sendContent(`${this.paragraphBreak()}*${kind.finishedText}*\n\n---\n\n`);
        }
        break;
      case 'thoughts':
        this.sendThoughts(track, message);
        break;
      case 'recap':
        if (message.finished) this.sendRecap(track);
        break;
      case 'nothing':
        break;
    }

    if (message.finished && message.contentType === 'multimodal_text' && !track.imagesSent) {
      track.imagesSent = true;
      this.sendImages(message);
    }
    if (message.role === 'assistant' && message.finished) this.assistantFinished(track, message, kind);
  }

  /**
   * The bookkeeping of an assistant or tool message. Once a newer message has appeared, older ones are
   * ignored, as the web client does.
   */
  private trackFor(message: MessageView): MessageTrack | undefined {
    if (message.role !== 'assistant' && message.role !== 'tool') return undefined;
    const known = this.tracks.get(message.id);
    if (known) return known === this.current ? known : undefined;
    if (this.current) this.leave(this.current);
    const track: MessageTrack = {
      id: message.id,
      message,
      opened: false,
      sent: 0,
      citations: 0,
      thoughts: [],
      finishedTextSent: false,
      recapSent: false,
      imagesSent: false,
    };
    this.tracks.set(message.id, track);
    this.current = track;
    this._answerStarted = true;
    return track;
  }

  private leave(track: MessageTrack): void {
    if (kindOf(track.message).show === 'recap') this.sendRecap(track);
  }

  private announce(track: MessageTrack): void {
    if (!this._conversationId || !track.id || track.id === this.announcedMessageId) return;
    this.announcedMessageId = track.id;
    this.pieces.push({ type: 'conversation', conversationId: this._conversationId, messageId: track.id });
  }

  private assistantFinished(track: MessageTrack, message: MessageView, kind: MessageKind): void {
    const reason = finishReasonOf(message);
    if (reason) this.finishReason = reason;
    const details = asString(asObject(message.metadata.finish_details).type);
    this.answerComplete = message.endTurn || details === 'max_tokens' || details === 'interrupted';
    if (!message.endTurn) return;
    if (kind.show === 'text') this.sendSandboxFiles(track, message);
    this.finish(this.finishReason ?? 'stop');
  }

  // ---- text ----

  /**
   * Sends what the message's text gained since last time. `appended`, when given, is known to be exactly
   * that gain (a delta `append`), which spares re-reading the whole text.
   */
  private sendText(track: MessageTrack, message: MessageView, appended?: string): void {
    const text = mainText(message);
    if (text.length < track.sent) track.sent = text.length;
    if (text.length === track.sent) return;
    const gain = appended !== undefined && text.length - track.sent === appended.length ? appended : text.slice(track.sent);
    track.sent = text.length;
    const kind = kindOf(message);
    this.open(track, kind);
    // Inside a tool's blockquote, paragraph breaks would end the quote: newlines collapse to one.
    this.sendContent(kind.show === 'caption' ? this.collapseNewlines(gain) : gain);
  }

  private collapseNewlines(text: string): string {
    const collapsed = text.replace(/\n{2,}/g, '\n');
    return this.contentTail.endsWith('\n') ? collapsed.replace(/^\n+/, '') : collapsed;
  }

  /** The first output of a message: close another message's code fence, then start this one's block. */
  private open(track: MessageTrack, kind: MessageKind): void {
    if (track.opened) return;
    track.opened = true;
    if (this.fenceOwner && this.fenceOwner !== track) this.closeFence();
    if (kind.show === 'fence') {
      this.sendContent(`\n${FENCE}${kind.label}\n`);
      this.fenceOwner = track;
      return;
    }
    this.sendContent(this.paragraphBreak());
    if (kind.show === 'caption' && kind.caption) this.sendContent(`>${kind.caption}\n`);
  }

  private closeFence(): void {
    if (!this.fenceOwner) return;
    this.fenceOwner = undefined;
    this.sendContent(`\n${FENCE}\n`);
  }

  /** What puts the next block after one blank line; nothing at the very start. */
  private paragraphBreak(): string {
    if (!this.contentSent || this.contentTail.endsWith('\n\n')) return '';
    return this.contentTail.endsWith('\n') ? '\n' : '\n\n';
  }

  private sendCitations(track: MessageTrack, message: MessageView): void {
    const citations = message.metadata.citations;
    if (!Array.isArray(citations) || citations.length <= track.citations) return;
    for (let i = track.citations; i < citations.length; i += 1) {
      const citation = asObject(citations[i]);
      const source = isObject(citation.metadata) ? citation.metadata : citation;
      const url = asString(source.url);
      if (!url) continue;
      const title = (asString(source.title) ?? '').replace(/"/g, "'");
      this.open(track, { show: 'text' });
      this.sendContent(` **[[""]](${url} "${title}")** `);
    }
    track.citations = citations.length;
  }

  // ---- reasoning ----

  /** Sends new thoughts (a bold summary line, then the content) and what the open ones gained. */
  private sendThoughts(track: MessageTrack, message: MessageView, appended?: { index: number; text: string }): void {
    const thoughts = message.content.thoughts;
    if (!Array.isArray(thoughts)) return;
    for (let i = 0; i < thoughts.length; i += 1) {
      const thought = asObject(thoughts[i]);
      const summary = asString(thought.summary) ?? '';
      const content = asString(thought.content) ?? '';
      const progress = (track.thoughts[i] ??= { opened: false, sent: 0 });
      if (!progress.opened) {
        if (!summary && !content) continue;
        progress.opened = true;
        this.sendReasoning((this.reasoningSent ? '\n\n' : '') + (summary ? `**${summary}**\n\n` : ''));
      }
      if (content.length < progress.sent) progress.sent = content.length;
      if (content.length === progress.sent) continue;
      const gain =
        appended?.index === i && content.length - progress.sent === appended.text.length ? appended.text : content.slice(progress.sent);
      progress.sent = content.length;
      this.sendReasoning(gain);
    }
  }

  /** "Thought for N seconds", once, when the recap is finished or left. */
  private sendRecap(track: MessageTrack): void {
    const recap = asString(track.message.content.content);
    if (track.recapSent || !recap) return;
    track.recapSent = true;
    this.sendReasoning(`${this.reasoningSent ? '\n\n' : ''}*${recap}*\n`);
  }

  // ---- media, moderation, errors, the end ----

  private sendImages(message: MessageView): void {
    const parts = message.content.parts;
    if (!Array.isArray(parts)) return;
    for (const part of parts) {
      if (!isObject(part) || part.content_type !== 'image_asset_pointer') continue;
      const pointer = asString(part.asset_pointer);
      if (pointer) this.sendMedia({ type: 'image', fileId: pointer.replace(FILE_SCHEME, '') });
    }
  }

  /** The final answer's `(sandbox:/mnt/data/…)` links, each file once. Read once, when the answer is done. */
  private sendSandboxFiles(track: MessageTrack, message: MessageView): void {
    const seen = new Set<string>();
    for (const match of mainText(message).matchAll(SANDBOX_LINK)) {
      const path = match[1];
      if (seen.has(path)) continue;
      seen.add(path);
      this.sendMedia({ type: 'sandbox_file', path, messageId: track.id });
    }
  }

  private sendMedia(piece: TranslatedPiece): void {
    this.closeFence();
    this.sendContent(this.paragraphBreak());
    this.pieces.push(piece);
    this.contentSent = true;
    this.contentTail = '';
  }

  /**
   * The content filter fired. A `moderation` event that says it blocked (or, lacking `blocked`, flagged)
   * nothing is only a report, and the answer goes on.
   */
  private moderate(response: JsonObject): void {
    if ((response.blocked ?? response.flagged ?? true) !== true) return;
    this._answerStarted = true;
    this.closeFence();
    this.sendContent(this.paragraphBreak() + this.moderationText);
    this.finish('stop');
  }

  private fail(error: unknown): void {
    const details = asObject(error);
    const message =
      asString(error) ?? asString(details.message) ?? asString(details.detail) ?? JSON.stringify(error) ?? 'upstream error';
    const code = asString(details.code) ?? asString(details.type) ?? 'upstream_error';
    this.pieces.push({ type: 'error', message, code });
    this.failed = true;
  }

  private finish(reason: FinishReason): void {
    if (this._finished) return;
    if (this.current) this.leave(this.current);
    this.closeFence();
    this.pieces.push({ type: 'finish', reason });
    this._finished = true;
  }

  private sendContent(text: string): void {
    if (!text) return;
    this.contentSent = true;
    this.contentTail = text.length >= 2 ? text.slice(-2) : (this.contentTail + text).slice(-2);
    const last = this.pieces[this.pieces.length - 1];
    if (last?.type === 'content') last.text += text;
    else this.pieces.push({ type: 'content', text });
  }

  private sendReasoning(text: string): void {
    if (!text) return;
    this.reasoningSent = true;
    const last = this.pieces[this.pieces.length - 1];
    if (last?.type === 'reasoning') last.text += text;
    else this.pieces.push({ type: 'reasoning', text });
  }
}
