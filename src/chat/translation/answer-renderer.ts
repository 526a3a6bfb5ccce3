// About 300 lines: one renderer per upstream stream; its state (current message, open fence) is shared by every branch.
import { AnswerWriter, FinishReason, TranslatedPiece } from './answer-writer';
import { MessageView, UpstreamUpdate } from './upstream-message';

/** What the client sees when the upstream's content filter fires (openai-api.md §6). */
export const MODERATION_TEXT =
  "I'm sorry, I cannot provide or engage in any content related to pornography, violence, or any unethical material. " +
  'If you have any other questions or need assistance, please feel free to let me know. ' +
  "I'll do my best to provide support and assistance.";

interface ThoughtProgress {
  opened: boolean;
  sent: number;
}

/** What has been sent of one upstream message. */
interface MessageTrack {
  message: MessageView;
  opened: boolean;
  /** Characters of the text sent. */
  sent: number;
  citations: number;
  thoughts: ThoughtProgress[];
  finishedTextSent: boolean;
  recapSent: boolean;
  imagesSent: boolean;
}

const SANDBOX_LINK = /\(sandbox:(\/mnt\/data\/[^)\n]+)\)/g;

/** The kinds of message whose text `observe` shows as it grows. */
const SHOWS_TEXT: ReadonlySet<MessageView['kind']['type']> = new Set(['text', 'code', 'tool_output', 'tool_activity']);

/**
 * Turns the decoded updates of one upstream stream into the pieces of an OpenAI answer, in Markdown
 * (openai-api.md §6): prose as it is, code and tool calls fenced, browsing as a blockquote with citation links,
 * thoughts and the recap as reasoning, images and sandbox files as media pieces.
 *
 * Each message's text is sent as it grows, counted in characters; whole texts are only re-read when an update
 * does not say exactly what was appended.
 */
export class AnswerRenderer {
  private readonly output = new AnswerWriter();
  private readonly tracks = new Map<string, MessageTrack>();
  private current?: MessageTrack;
  private announcedMessageId?: string;
  private finishReason?: FinishReason;
  /** The upstream said the answer is over; a missing `[DONE]` does not cut it off. */
  private answerComplete = false;
  private failed = false;
  private _answerStarted = false;
  private _finished = false;

  constructor(private readonly moderationText: string = MODERATION_TEXT) {}

  /** True once an assistant or tool message has arrived: from here on the request must not be retried. */
  get answerStarted(): boolean {
    return this._answerStarted;
  }

  /** True once a finish piece has been written. */
  get finished(): boolean {
    return this._finished;
  }

  /** Finished or failed: nothing more is rendered. */
  get closed(): boolean {
    return this._finished || this.failed;
  }

  render(update: UpstreamUpdate): void {
    if (this.closed) return;
    switch (update.type) {
      case 'message':
        this.observe(update.message, update.conversationId);
        break;
      case 'text_appended': {
        const track = this.currentTrackOf(update.message);
        // Only where a whole message would show its text: never a hidden one's (a tool's instructions, a system error).
        if (track && SHOWS_TEXT.has(update.message.kind.type)) this.sendText(track, update.message, update.text);
        break;
      }
      case 'thought_appended': {
        const track = this.currentTrackOf(update.message);
        if (track) this.sendThoughts(track, update.message, { index: update.index, text: update.text });
        break;
      }
      case 'moderated':
        this.moderate();
        break;
      case 'error':
        this.output.signal({ type: 'error', message: update.message, code: update.code });
        this.failed = true;
        break;
      case 'done':
        // `[DONE]` with no answer before it is no answer: left unfinished, the caller reports it as one that never
        // started (and tries another conversation), not as an empty success.
        if (this._answerStarted) this.finish(this.finishReason ?? 'stop');
        break;
    }
  }

  /**
   * The upstream closed. A finished answer whose `[DONE]` never came is finished now; an unfinished one is
   * left unfinished (see `finished`) for the caller to report as cut off.
   */
  end(): void {
    if (!this.closed && this.answerComplete) this.finish(this.finishReason ?? 'stop');
  }

  /** The pieces rendered since the last call. */
  takePieces(): TranslatedPiece[] {
    return this.output.take();
  }

  // ---- messages ----

  /** One state of a message: sends whatever of it is new. */
  private observe(message: MessageView, conversationId: string | undefined): void {
    const track = this.trackFor(message);
    if (!track) return;
    track.message = message;
    const { kind } = message;
    this.announce(track, conversationId);

    switch (kind.type) {
      case 'text':
        this.sendText(track, message);
        this.sendCitations(track, message);
        break;
      case 'code':
      case 'tool_output':
        this.sendText(track, message);
        break;
      case 'tool_activity':
        this.open(track, message);
        this.sendText(track, message);
        if (message.finished && kind.finishedText && !track.finishedTextSent) {
          track.finishedTextSent = true;
          this.output.startParagraph();
          this.output.content(`*${kind.finishedText}*\n\n---\n\n`);
        }
        break;
      case 'thoughts':
        this.sendThoughts(track, message);
        break;
      case 'recap':
        if (message.finished) this.sendRecap(track);
        break;
      case 'hidden':
        break;
    }

    if (message.finished && !track.imagesSent) {
      track.imagesSent = true;
      for (const fileId of message.images) this.output.media({ type: 'image', fileId });
    }
    if (message.role === 'assistant' && message.finished) this.assistantFinished(track, message);
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

  private currentTrackOf(message: MessageView): MessageTrack | undefined {
    const track = this.tracks.get(message.id);
    return track && track === this.current ? track : undefined;
  }

  private leave(track: MessageTrack): void {
    if (track.message.kind.type === 'recap') this.sendRecap(track);
  }

  private announce(track: MessageTrack, conversationId: string | undefined): void {
    const messageId = track.message.id;
    if (!conversationId || !messageId || messageId === this.announcedMessageId) return;
    this.announcedMessageId = messageId;
    this.output.signal({ type: 'conversation', conversationId, messageId });
  }

  private assistantFinished(track: MessageTrack, message: MessageView): void {
    const { stopReason } = message;
    if (stopReason) this.finishReason = stopReason === 'length' ? 'length' : 'stop';
    this.answerComplete = message.endTurn || stopReason === 'length' || stopReason === 'interrupted';
    if (!message.endTurn) return;
    if (message.kind.type === 'text') this.sendSandboxFiles(message);
    this.finish(this.finishReason ?? 'stop');
  }

  // ---- text ----

  /**
   * Sends what the message's text gained since last time. `appended`, when given, is known to be exactly
   * that gain (a delta `append`), which spares re-reading the whole text.
   */
  private sendText(track: MessageTrack, message: MessageView, appended?: string): void {
    const { text } = message;
    if (text.length < track.sent) track.sent = text.length;
    if (text.length === track.sent) return;
    const gain = appended !== undefined && text.length - track.sent === appended.length ? appended : text.slice(track.sent);
    track.sent = text.length;
    this.open(track, message);
    // Inside a tool's blockquote, paragraph breaks would end the quote: newlines collapse to one.
    this.output.content(message.kind.type === 'tool_activity' ? this.collapseNewlines(gain) : gain);
  }

  private collapseNewlines(text: string): string {
    const collapsed = text.replace(/\n{2,}/g, '\n');
    return this.output.endsWithNewline ? collapsed.replace(/^\n+/, '') : collapsed;
  }

  /** The first output of a message: close another message's code fence, then start this one's block. */
  private open(track: MessageTrack, message: MessageView): void {
    if (track.opened) return;
    track.opened = true;
    this.output.closeFenceUnlessOwnedBy(message.id);
    const { kind } = message;
    if (kind.type === 'code' || kind.type === 'tool_output') {
      this.output.openFence(kind.type === 'code' ? kind.label : 'Output', message.id);
      return;
    }
    this.output.startParagraph();
    if (kind.type === 'tool_activity' && kind.caption) this.output.content(`>${kind.caption}\n`);
  }

  private sendCitations(track: MessageTrack, message: MessageView): void {
    const { citations } = message;
    if (citations.length <= track.citations) return;
    for (let i = track.citations; i < citations.length; i += 1) {
      const { url, title } = citations[i];
      if (!url) continue;
      this.open(track, message);
      this.output.content(` **[[""]](${url} "${title.replace(/"/g, "'")}")** `);
    }
    track.citations = citations.length;
  }

  // ---- reasoning ----

  /** Sends new thoughts (a bold summary line, then the content) and what the open ones gained. */
  private sendThoughts(track: MessageTrack, message: MessageView, appended?: { index: number; text: string }): void {
    message.thoughts.forEach(({ summary, content }, i) => {
      const progress = (track.thoughts[i] ??= { opened: false, sent: 0 });
      if (!progress.opened) {
        if (!summary && !content) return;
        progress.opened = true;
        this.output.reasoning((this.output.hasReasoning ? '\n\n' : '') + (summary ? `**${summary}**\n\n` : ''));
      }
      if (content.length < progress.sent) progress.sent = content.length;
      if (content.length === progress.sent) return;
      const gain =
        appended?.index === i && content.length - progress.sent === appended.text.length ? appended.text : content.slice(progress.sent);
      progress.sent = content.length;
      this.output.reasoning(gain);
    });
  }

  /** "Thought for N seconds", once, when the recap is finished or left. */
  private sendRecap(track: MessageTrack): void {
    const { kind } = track.message;
    if (kind.type !== 'recap' || track.recapSent || !kind.text) return;
    track.recapSent = true;
    this.output.reasoning(`${this.output.hasReasoning ? '\n\n' : ''}*${kind.text}*\n`);
  }

  // ---- media, moderation, the end ----

  /** The final answer's `(sandbox:/mnt/data/…)` links, each file once. Read once, when the answer is done. */
  private sendSandboxFiles(message: MessageView): void {
    const seen = new Set<string>();
    for (const match of message.text.matchAll(SANDBOX_LINK)) {
      const path = match[1];
      if (seen.has(path)) continue;
      seen.add(path);
      this.output.media({ type: 'sandbox_file', path, messageId: message.id });
    }
  }

  private moderate(): void {
    this._answerStarted = true;
    this.output.closeFence();
    this.output.startParagraph();
    this.output.content(this.moderationText);
    this.finish('content_filter');
  }

  private finish(reason: FinishReason): void {
    if (this._finished) return;
    if (this.current) this.leave(this.current);
    this.output.closeFence();
    this.output.signal({ type: 'finish', reason });
    this._finished = true;
  }
}
