import type { Response } from 'express';

/**
 * An Express response opened as a server-sent event stream: the headers proxies need to pass it through
 * unbuffered, `: keep-alive` comments while idle, and writes that wait for a slow reader so memory stays bounded.
 * What goes into an event (OpenAI's chat chunks, the Responses API's typed events) is the caller's business.
 */
export class SseChannel {
  private lastWrite = Date.now();
  private readonly keepAlive: NodeJS.Timeout;

  constructor(
    private readonly response: Response,
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

  /** Writes raw SSE text (one or more complete events). */
  async write(text: string): Promise<void> {
    if (!this.open) return;
    this.lastWrite = Date.now();
    if (this.response.write(text)) return;
    await drainedOrClosed(this.response);
  }

  close(): void {
    clearInterval(this.keepAlive);
    if (this.open) this.response.end();
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
