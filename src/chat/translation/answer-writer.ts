/**
 * One piece of the answer, in order. Content and reasoning are text to send as they are; the media pieces
 * need a download URL first. Every media piece starts a new paragraph (the line break before it has already
 * been sent), so the service can write `![image](url)` / `![File n](url)` directly.
 */
export type TranslatedPiece =
  | { type: 'content'; text: string }
  | { type: 'reasoning'; text: string }
  /** A generated image: the asset pointer without its `file-service://` (or `sediment://`) scheme. */
  | { type: 'image'; fileId: string }
  /** A `(sandbox:/mnt/data/…)` link in the final answer: `path` is the sandbox path, `/mnt/data/…`. */
  | { type: 'sandbox_file'; path: string; messageId: string }
  | { type: 'finish'; reason: FinishReason }
  /** An `{"error": …}` event: the answer is over, and nothing more is translated. */
  | { type: 'error'; message: string; code: string }
  /** The ids to continue the conversation with; sent again whenever a newer message appears. */
  | { type: 'conversation'; conversationId: string; messageId: string };

/** Why an answer ended; `content_filter` when the upstream's moderation blocked it (openai-api.md §6.4). */
export type FinishReason = 'stop' | 'length' | 'content_filter';

export type MediaPiece = Extract<TranslatedPiece, { type: 'image' | 'sandbox_file' }>;

const FENCE = '```';

/**
 * Collects the pieces of the answer and keeps the Markdown layout that spans messages: one blank line between
 * blocks, and at most one open code fence, closed before anything else starts.
 */
export class AnswerWriter {
  private pieces: TranslatedPiece[] = [];
  private contentWritten = false;
  /** The last two characters of content written, to put exactly one blank line between blocks. */
  private contentTail = '';
  private reasoningWritten = false;
  /** The id of the message whose code fence is open. */
  private fenceOwner?: string;

  get hasReasoning(): boolean {
    return this.reasoningWritten;
  }

  get endsWithNewline(): boolean {
    return this.contentTail.endsWith('\n');
  }

  content(text: string): void {
    if (!text) return;
    this.contentWritten = true;
    this.contentTail = text.length >= 2 ? text.slice(-2) : (this.contentTail + text).slice(-2);
    const last = this.pieces[this.pieces.length - 1];
    if (last?.type === 'content') last.text += text;
    else this.pieces.push({ type: 'content', text });
  }

  reasoning(text: string): void {
    if (!text) return;
    this.reasoningWritten = true;
    const last = this.pieces[this.pieces.length - 1];
    if (last?.type === 'reasoning') last.text += text;
    else this.pieces.push({ type: 'reasoning', text });
  }

  /** Puts the next block after one blank line; nothing at the very start. */
  startParagraph(): void {
    if (!this.contentWritten || this.contentTail.endsWith('\n\n')) return;
    this.content(this.contentTail.endsWith('\n') ? '\n' : '\n\n');
  }

  openFence(label: string, ownerId: string): void {
    this.content(`\n${FENCE}${label}\n`);
    this.fenceOwner = ownerId;
  }

  closeFence(): void {
    if (this.fenceOwner === undefined) return;
    this.fenceOwner = undefined;
    this.content(`\n${FENCE}\n`);
  }

  /** A message starts writing: another message's code fence ends here. */
  closeFenceUnlessOwnedBy(ownerId: string): void {
    if (this.fenceOwner !== undefined && this.fenceOwner !== ownerId) this.closeFence();
  }

  media(piece: MediaPiece): void {
    this.closeFence();
    this.startParagraph();
    this.pieces.push(piece);
    this.contentWritten = true;
    this.contentTail = '';
  }

  /** A piece that is not part of the text: the conversation ids, an error, the finish. */
  signal(piece: Extract<TranslatedPiece, { type: 'conversation' | 'error' | 'finish' }>): void {
    this.pieces.push(piece);
  }

  /** The pieces written since the last call. */
  take(): TranslatedPiece[] {
    const pieces = this.pieces;
    this.pieces = [];
    return pieces;
  }
}
