import type { Response } from 'express';
import { SHUTDOWN_ERROR, SseChannel } from '../common/http/sse-channel';
import type { OpenStreams } from '../common/lifecycle/open-streams.registry';
import type { FinishReason } from './translation/answer-writer';

export interface CompletionMeta {
  id: string;
  created: number;
  model: string;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** The thoughts' share of `completion_tokens`, when the model thought (OpenAI's field for reasoning models). */
  completion_tokens_details?: { reasoning_tokens: number };
}

/**
 * Writes OpenAI's `chat.completion.chunk` SSE framing: one id and one `created` per stream, `data: <json>`
 * events, `: keep-alive` comments while idle (SseChannel), `[DONE]` at the end. `openStreams`: where the stream
 * registers so a server shutdown can wait for it, then end it in-band.
 */
export class CompletionStream {
  private ids?: { conversation_id: string; message_id: string };
  /** `,"conversation_id":…,"message_id":…` once the ids are known: the tail of every later chunk. */
  private idsJson = '';
  private readonly channel: SseChannel;
  /** `data: {"id":…,"object":"chat.completion.chunk","created":…,"model":…` — the same in every chunk, so serialised once. */
  private readonly envelopeJson: string;

  constructor(
    response: Response,
    private readonly meta: CompletionMeta,
    keepAliveIntervalMs: number,
    openStreams?: OpenStreams,
  ) {
    const farewell = () => `data: ${JSON.stringify({ error: SHUTDOWN_ERROR })}\n\ndata: [DONE]\n\n`;
    this.channel = new SseChannel(response, keepAliveIntervalMs, openStreams && { openStreams, farewell });
    this.envelopeJson = `data: ${JSON.stringify(this.envelope()).slice(0, -1)}`;
  }

  get open(): boolean {
    return this.channel.open;
  }

  /** Adds `conversation_id` and `message_id` to every later chunk (history on). */
  setConversationIds(conversationId: string, messageId: string): void {
    this.ids = { conversation_id: conversationId, message_id: messageId };
    this.idsJson = `,${JSON.stringify(this.ids).slice(1, -1)}`;
  }

  /**
   * One chunk, written by hand around the delta's own JSON: the same text `JSON.stringify` makes of
   * `{ ...envelope, choices: [{ index, delta, logprobs, finish_reason }], ...ids }`, without building that object per token.
   */
  delta(delta: Record<string, unknown>, finishReason: FinishReason | 'tool_calls' | 'function_call' | null = null): Promise<void> {
    const finish = finishReason === null ? 'null' : `"${finishReason}"`;
    return this.channel.write(
      `${this.envelopeJson},"choices":[{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":${finish}}]${this.idsJson}}\n\n`,
    );
  }

  usage(usage: Usage): Promise<void> {
    return this.data({ ...this.envelope(), choices: [], usage });
  }

  /** An upstream failure after the stream started: an error object as a data line (openai-api.md §6, "Ours"). */
  error(message: string, code: string): Promise<void> {
    return this.data({ error: { message, type: 'upstream_error', param: null, code } });
  }

  async done(): Promise<void> {
    await this.channel.write('data: [DONE]\n\n');
    this.close();
  }

  close(): void {
    this.channel.close();
  }

  private envelope(): Record<string, unknown> {
    const { id, created, model } = this.meta;
    return { id, object: 'chat.completion.chunk', created, model };
  }

  private data(payload: unknown): Promise<void> {
    return this.channel.write(`data: ${JSON.stringify(payload)}\n\n`);
  }
}
