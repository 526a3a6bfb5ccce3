import type { ReasoningOutputMode } from '../config/app-config';
import type { FinishReason } from './translation/answer-writer';
import type { TranslatedPiece } from './translation/upstream-stream-translator';
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
 * generated files as links, and the `max_tokens` cut at a token boundary. Keeps the full texts for usage.
 */
export class AnswerAssembler {
  content = '';
  reasoning = '';
  private thinkOpen = false;
  private estimatedTokens = 0;
  private files = 0;
  private conversationId?: string;

  constructor(
    private readonly options: AnswerOptions,
    private readonly counter: TokenCounter,
  ) {}

  async *events(pieces: AsyncIterable<TranslatedPiece>): AsyncGenerator<AnswerEvent> {
    for await (const piece of pieces) {
      switch (piece.type) {
        case 'content': {
          const event = this.contentDelta(piece.text);
          if (event.text) yield { type: 'delta', content: event.text };
          if (event.limitReached) {
            yield { type: 'finish', reason: 'length' };
            return;
          }
          break;
        }
        case 'reasoning':
          if (this.options.reasoningOutput === 'hidden') break;
          this.reasoning += piece.text;
          if (this.options.reasoningOutput === 'reasoning_content') {
            yield { type: 'delta', reasoning: piece.text };
          } else {
            const opening = this.thinkOpen || this.content ? '' : THINK_OPEN;
            if (opening || this.thinkOpen) {
              this.thinkOpen = true;
              this.content += opening + piece.text;
              yield { type: 'delta', content: opening + piece.text };
            }
          }
          break;
        case 'image': {
          const url = await this.options.resolveImage(piece.fileId);
          yield* this.pieceText(url ? `\n![image](${url})\n` : '\nFailed to load the image.\n');
          break;
        }
        case 'sandbox_file': {
          const url = this.conversationId ? await this.options.resolveSandboxFile(piece.path, piece.messageId, this.conversationId) : null;
          if (url) yield* this.pieceText(`\n![File ${++this.files}](${url})\n`);
          break;
        }
        case 'conversation':
          this.conversationId = piece.conversationId;
          yield { type: 'ids', conversationId: piece.conversationId, messageId: piece.messageId };
          break;
        case 'error':
          yield { type: 'error', message: piece.message, code: piece.code };
          return;
        case 'finish':
          if (this.thinkOpen) yield* this.pieceText('');
          yield { type: 'finish', reason: piece.reason };
          return;
      }
    }
  }

  private *pieceText(text: string): Generator<AnswerEvent> {
    const event = this.contentDelta(text);
    if (event.text) yield { type: 'delta', content: event.text };
  }

  /** Appends answer text, closing a `<think>` block first; cuts at `max_tokens`. */
  private contentDelta(text: string): { text: string; limitReached: boolean } {
    let addition = text;
    if (this.thinkOpen) {
      this.thinkOpen = false;
      addition = THINK_CLOSE + addition;
    }
    const { maxTokens, encoding } = this.options;
    if (!maxTokens || !addition) {
      this.content += addition;
      return { text: addition, limitReached: false };
    }
    // Per-delta counts run close to the exact count; the full text is only re-encoded near the limit.
    this.estimatedTokens += this.counter.count(addition, encoding);
    if (this.estimatedTokens < maxTokens) {
      this.content += addition;
      return { text: addition, limitReached: false };
    }
    const candidate = this.content + addition;
    const exact = this.counter.count(candidate, encoding);
    this.estimatedTokens = exact;
    if (exact < maxTokens) {
      this.content = candidate;
      return { text: addition, limitReached: false };
    }
    const allowed = this.counter.truncate(candidate, maxTokens, encoding);
    const kept = allowed.startsWith(this.content) ? allowed.slice(this.content.length) : '';
    this.content += kept;
    return { text: kept, limitReached: true };
  }
}
