import { AnswerRenderer, MODERATION_TEXT } from './answer-renderer';
import { TranslatedPiece } from './answer-writer';
import { SseEvent } from './sse-parser';
import { UpstreamMessageDecoder } from './upstream-message-decoder';

export { MODERATION_TEXT } from './answer-renderer';
export type { TranslatedPiece } from './answer-writer';

export interface UpstreamStreamTranslatorOptions {
  moderationText?: string;
}

/**
 * Turns one upstream conversation stream into the pieces of an OpenAI answer (openai-api.md §6): the decoder
 * reads the wire format, classic or delta encoded, into message updates; the renderer writes them as Markdown.
 */
export class UpstreamStreamTranslator {
  private readonly decoder = new UpstreamMessageDecoder();
  private readonly renderer: AnswerRenderer;

  constructor(options: UpstreamStreamTranslatorOptions = {}) {
    this.renderer = new AnswerRenderer(options.moderationText ?? MODERATION_TEXT);
  }

  /** True once an assistant or tool message has arrived: from here on the request must not be retried. */
  get answerStarted(): boolean {
    return this.renderer.answerStarted;
  }

  /** True once a finish piece has been emitted. */
  get finished(): boolean {
    return this.renderer.finished;
  }

  get conversationId(): string | undefined {
    return this.decoder.conversationId;
  }

  feed(event: SseEvent): TranslatedPiece[] {
    // Once the answer is over, later events are not even decoded.
    if (this.renderer.closed) return [];
    for (const update of this.decoder.decode(event)) this.renderer.render(update);
    return this.renderer.takePieces();
  }

  /**
   * The upstream closed. A finished answer whose `[DONE]` never came is finished now; an unfinished one is
   * left unfinished (see `finished`) for the caller to report as cut off.
   */
  end(): TranslatedPiece[] {
    this.renderer.end();
    return this.renderer.takePieces();
  }
}
