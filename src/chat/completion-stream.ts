import type { Response } from 'express';
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
}

/**
 * Writes OpenAI's `chat.completion.chunk` SSE framing to an Express response: one id and one
 * `created` per stream, `data: <json>` events, `: keep-alive` comments while idle, `[DONE]` at the end.
 */
export class CompletionStream {
  private ids?: { conversation_id: string; message_id: string };
  private lastWrite = Date.now();
  private readonly keepAlive: NodeJS.Timeout;

  constructor(
    private readonly response: Response,
    private readonly meta: CompletionMeta,
    keepAliveIntervalMs: number,
  ) {
    response.status(200);
    response.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    response.setHeader('Cache-Control', 'no-cache');
    response.setHeader('Connection', 'keep-alive');
    response.setHeader('X-Accel-Buffering', 'no');
    response.flushHeaders();
    this.keepAlive = setInterval(() => {
      if (Date.now() - this.lastWrite >= keepAliveIntervalMs) void this.write(': keep-alive\n\n');
    }, Math.max(250, Math.floor(keepAliveIntervalMs / 2)));
    this.keepAlive.unref();
  }

  get open(): boolean {
    return !this.response.destroyed && !this.response.writableEnded;
  }

  /** Adds `conversation_id` and `message_id` to every later chunk (history on). */
  setConversationIds(conversationId: string, messageId: string): void {
    this.ids = { conversation_id: conversationId, message_id: messageId };
  }

  delta(delta: Record<string, unknown>, finishReason: FinishReason | 'tool_calls' | null = null): Promise<void> {
    return this.data({ ...this.envelope(), choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }], ...this.ids });
  }

  usage(usage: Usage): Promise<void> {
    return this.data({ ...this.envelope(), choices: [], usage });
  }

  /** An upstream failure after the stream started: an error object as a data line (openai-api.md §6, "Ours"). */
  error(message: string, code: string): Promise<void> {
    return this.data({ error: { message, type: 'upstream_error', param: null, code } });
  }

  async done(): Promise<void> {
    await this.write('data: [DONE]\n\n');
    this.close();
  }

  close(): void {
    clearInterval(this.keepAlive);
    if (this.open) this.response.end();
  }

  private envelope(): Record<string, unknown> {
    const { id, created, model } = this.meta;
    return { id, object: 'chat.completion.chunk', created, model };
  }

  private data(payload: unknown): Promise<void> {
    return this.write(`data: ${JSON.stringify(payload)}\n\n`);
  }

  /** Waits for the socket to drain when the client reads slowly, so memory stays bounded. */
  private async write(text: string): Promise<void> {
    if (!this.open) return;
    this.lastWrite = Date.now();
    if (this.response.write(text)) return;
    await drainedOrClosed(this.response);
  }
}

function drainedOrClosed(response: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}
