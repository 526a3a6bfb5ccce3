import type { Response } from 'express';
import type { OpenStreams, ShutdownEndable } from '../lifecycle/open-streams.registry';
import { finishedOrCut } from './finished-or-cut';

/** Where a channel registers so that a server shutdown can wait for it, and the last bytes it sends if it cannot. */
export interface ShutdownOptions {
  openStreams: OpenStreams;
  /** Complete SSE events that tell the client the answer was cut short and end the stream in its protocol. */
  farewell: () => string;
}

/**
 * An Express response opened as a server-sent event stream: the headers proxies need to pass it through
 * unbuffered, `: keep-alive` comments while idle, and writes that wait for a slow reader so memory stays bounded.
 * What goes into an event (OpenAI's chat chunks, the Responses API's typed events) is the caller's business.
 */
export class SseChannel implements ShutdownEndable {
  private lastWrite = Date.now();
  private readonly keepAlive: NodeJS.Timeout;
  private endedForShutdown = false;
  /** Events written since the last flush: they leave together, as one chunk of the response, on the next tick. */
  private pending = '';

  constructor(
    private readonly response: Response,
    keepAliveIntervalMs: number,
    private readonly shutdown?: ShutdownOptions,
  ) {
    response.status(200);
    response.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    response.setHeader('Cache-Control', 'no-cache');
    response.setHeader('Connection', 'keep-alive');
    response.setHeader('X-Accel-Buffering', 'no');
    this.keepAlive = setInterval(
      () => {
        if (Date.now() - this.lastWrite >= keepAliveIntervalMs) void this.write(': keep-alive\n\n');
      },
      Math.max(250, Math.floor(keepAliveIntervalMs / 2)),
    );
    this.keepAlive.unref();
    // Released once the response is fully sent (or the client left), so a drained server has only idle sockets.
    const release = shutdown?.openStreams.register(this);
    if (release) {
      response.once('finish', release);
      response.once('close', release);
    }
  }

  get open(): boolean {
    return !this.endedForShutdown && !this.response.destroyed && !this.response.writableEnded;
  }

  /**
   * Writes raw SSE text (one or more complete events). What is written while one upstream read is being translated
   * (the headers, several pieces) leaves as one chunk, in one packet, on the next tick: one write of the response,
   * not one per event. Past `BUFFERED_TEXT_LIMIT` characters, or while the response waits for a slow reader, the
   * text is sent at once and the reader is waited for, so memory stays bounded.
   */
  async write(text: string): Promise<void> {
    if (!this.open) return;
    this.lastWrite = Date.now();
    if (this.pending === '') process.nextTick(this.flush);
    this.pending += text;
    if (this.pending.length < BUFFERED_TEXT_LIMIT && !this.response.writableNeedDrain) return;
    if (this.sendPending()) return;
    await drainedOrClosed(this.response);
  }

  private readonly flush = (): void => {
    if (this.open) this.sendPending();
  };

  /** Sends the text written so far; false when the response's buffer is full (wait for `drain`). */
  private sendPending(): boolean {
    const text = this.pending;
    this.pending = '';
    return text === '' || this.response.write(text);
  }

  /**
   * The server is stopping and the grace period is over: say so in the stream, then end it properly.
   * The farewell goes out in one write, and the channel counts as closed from here on, so nothing slips in after it.
   */
  async endForShutdown(): Promise<void> {
    if (!this.open) return;
    this.endedForShutdown = true;
    clearInterval(this.keepAlive);
    const taken = finishedOrCut(this.response);
    this.response.end(this.takePending() + (this.shutdown?.farewell() ?? ''));
    await taken;
  }

  close(): void {
    clearInterval(this.keepAlive);
    if (this.open) this.response.end(this.takePending());
  }

  private takePending(): string {
    const text = this.pending;
    this.pending = '';
    return text;
  }
}

/** Text held for one write at most: a long answer that arrived at once is sent as it is translated, at the socket's pace. */
const BUFFERED_TEXT_LIMIT = 16 * 1024;

/** The error object a stream carries when the server ends it for a shutdown. */
export const SHUTDOWN_ERROR = {
  message: 'The server is shutting down; the answer was cut short. Retry the request.',
  type: 'server_error',
  param: null,
  code: 'server_shutting_down',
} as const;

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
