import type { ReasoningOutputMode } from '../config/app-config';
import type { FinishReason, MediaPiece } from './translation/answer-writer';
import type { TranslatedPiece } from './translation/upstream-stream-translator';
import { StopCut, StopSequences } from './stop-sequences';
import { EncodingName, TokenCounter } from './token-counter';

/** What the client is sent, independent of stream or non-stream framing. */
export type AnswerEvent =
  | { type: 'delta'; content?: string; reasoning?: string }
  | { type: 'ids'; conversationId: string; messageId: string }
  | { type: 'finish'; reason: FinishReason }
  | { type: 'error'; message: string; code: string };

export interface AnswerOptions {
  reasoningOutput: ReasoningOutputMode;
  maxTokens?: number;
  /** The request's non-empty `stop` strings: the answer's text ends before the first of them. */
  stop?: readonly string[];
  encoding: EncodingName;
  /** A download URL for a generated image, or null when it cannot be had. */
  resolveImage: (fileId: string) => Promise<string | null>;
  /** A download URL for a file the code interpreter wrote in this conversation, or null. */
  resolveSandboxFile: (path: string, messageId: string, conversationId: string) => Promise<string | null>;
}

const THINK_OPEN = '<think>\n';
const THINK_CLOSE = '\n</think>\n\n';

/**
 * Shapes translated upstream pieces into what the client sees: reasoning per `REASONING_OUTPUT`,
 * generated files as links, the `stop` cut, and the `max_tokens` cut at a token boundary. Keeps the full texts
 * for usage. `stop` cuts the model's answer text only: thoughts and file links are never cut by it; text before a
 * stop string still counts against `max_tokens`, so whichever limit comes first in the text ends the answer.
 */
export class AnswerAssembler {
  /** Everything sent as `content`, a `<think>` block included. */
  content = '';
  reasoning = '';
  /** The answer alone (no `<think>` block): what `max_tokens` limits, as OpenAI's limit leaves reasoning out. */
  private answer = '';
  private thinkOpen = false;
  private estimatedTokens = 0;
  private files = 0;
  private conversationId?: string;
  private readonly stops: StopSequences | null;

  constructor(
    private readonly options: AnswerOptions,
    private readonly counter: TokenCounter,
  ) {
    this.stops = options.stop?.length ? new StopSequences(options.stop) : null;
  }

  /**
   * The client's events, one batch per batch of pieces. Only media pieces wait (for their download link): text
   * is shaped synchronously, so a batch crosses the async steps once, whatever its number of pieces.
   */
  async *events(batches: AsyncIterable<TranslatedPiece[]>): AsyncGenerator<AnswerEvent[]> {
    for await (const pieces of batches) {
      const events: AnswerEvent[] = [];
      for (const piece of pieces) {
        const ended =
          piece.type === 'image' || piece.type === 'sandbox_file' ? await this.shapeMedia(piece, events) : this.shape(piece, events);
        if (ended) {
          yield events;
          return;
        }
      }
      if (events.length > 0) yield events;
    }
  }

  /** Adds what `piece` shows to `events`; true when the answer ends with it. */
  private shape(piece: Exclude<TranslatedPiece, MediaPiece>, events: AnswerEvent[]): boolean {
    switch (piece.type) {
      case 'content':
        return this.stops ? this.pushCut(this.stops.push(piece.text), events) : this.pushText(piece.text, events);
      case 'reasoning':
        if (this.options.reasoningOutput === 'hidden') return false;
        this.reasoning += piece.text;
        if (this.options.reasoningOutput === 'reasoning_content') {
          events.push({ type: 'delta', reasoning: piece.text });
        } else {
          const opening = this.thinkOpen || this.content ? '' : THINK_OPEN;
          if (opening || this.thinkOpen) {
            this.thinkOpen = true;
            this.content += opening + piece.text;
            events.push({ type: 'delta', content: opening + piece.text });
          }
        }
        return false;
      case 'conversation':
        this.conversationId = piece.conversationId;
        events.push({ type: 'ids', conversationId: piece.conversationId, messageId: piece.messageId });
        return false;
      case 'error':
        if (this.releaseHeld(events)) return true;
        events.push({ type: 'error', message: piece.message, code: piece.code });
        return true;
      case 'finish':
        if (this.releaseHeld(events)) return true;
        if (this.thinkOpen) this.pushText('', events);
        events.push({ type: 'finish', reason: piece.reason });
        return true;
    }
  }

  /**
   * A generated image or sandbox file, as a link once its download URL is known; true when it reaches `max_tokens`.
   * A link is shown whole or not at all: cut, it would be a broken link (or a URL that works but is not the file).
   */
  private async shapeMedia(piece: MediaPiece, events: AnswerEvent[]): Promise<boolean> {
    // Text held back for `stop` comes first; a link between it and the next text means a stop string cannot span them.
    if (this.releaseHeld(events)) return true;
    if (piece.type === 'image') {
      const url = await this.options.resolveImage(piece.fileId);
      return this.pushText(url ? `\n![image](${url})\n` : '\nFailed to load the image.\n', events, 'whole');
    }
    const url = this.conversationId ? await this.options.resolveSandboxFile(piece.path, piece.messageId, this.conversationId) : null;
    return url ? this.pushText(`\n![File ${++this.files}](${url})\n`, events, 'whole') : false;
  }

  /** Text that `stop` let through, then the end of the answer (finish `stop`) when a stop string was found. */
  private pushCut({ released, stopped }: StopCut, events: AnswerEvent[]): boolean {
    if (this.pushText(released, events)) return true;
    if (stopped) events.push({ type: 'finish', reason: 'stop' });
    return stopped;
  }

  /** Releases the text held back as a possible start of a stop string; true when the answer ends with it. */
  private releaseHeld(events: AnswerEvent[]): boolean {
    return this.stops ? this.pushCut(this.stops.flush(), events) : false;
  }

  /** Adds answer text to `events`, closing a `<think>` block first; true (with finish `length`) when it reaches `max_tokens`. */
  private pushText(text: string, events: AnswerEvent[], cut: 'anywhere' | 'whole' = 'anywhere'): boolean {
    const closing = this.thinkOpen ? THINK_CLOSE : '';
    this.thinkOpen = false;
    const { kept, limitReached } = this.withinLimit(text, cut);
    this.content += closing + kept;
    if (closing + kept) events.push({ type: 'delta', content: closing + kept });
    if (limitReached) events.push({ type: 'finish', reason: 'length' });
    return limitReached;
  }

  /**
   * What of `text` fits in `max_tokens` after the answer so far, cut at a token boundary (`anywhere`) or kept only
   * when it fits entirely (`whole`); adds it to the answer (kept only under a limit: nothing else reads it).
   */
  private withinLimit(text: string, cut: 'anywhere' | 'whole'): { kept: string; limitReached: boolean } {
    const { maxTokens, encoding } = this.options;
    if (!maxTokens || !text) return { kept: text, limitReached: false };
    // Per-delta counts run close to the exact count; the full answer is only re-encoded near the limit.
    this.estimatedTokens += this.counter.count(text, encoding);
    if (this.estimatedTokens < maxTokens) {
      this.answer += text;
      return { kept: text, limitReached: false };
    }
    const candidate = this.answer + text;
    const exact = this.counter.count(candidate, encoding);
    this.estimatedTokens = exact;
    if (exact < maxTokens) {
      this.answer = candidate;
      return { kept: text, limitReached: false };
    }
    const allowed = this.counter.truncate(candidate, maxTokens, encoding);
    const fitting = allowed.startsWith(this.answer) ? allowed.slice(this.answer.length) : '';
    const kept = cut === 'whole' && fitting !== text ? '' : fitting;
    this.answer += kept;
    return { kept, limitReached: true };
  }
}
