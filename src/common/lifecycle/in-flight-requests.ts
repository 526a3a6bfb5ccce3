import { Injectable } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The responses the server has not finished (streams, and requests still waiting for the upstream), so that a
 * shutdown can wait for them (`SHUTDOWN_GRACE_MS`) and then answer those that never started. A response whose
 * client recovers from an early end is excused from the wait (`OpenStreams.registerRecoverable`).
 */
@Injectable()
export class InFlightRequests {
  private readonly responses = new Set<ServerResponse>();
  private readonly idleWaiters = new Set<() => void>();

  get size(): number {
    return this.responses.size;
  }

  /** The server's `request` listener. */
  readonly track = (_request: IncomingMessage, response: ServerResponse): void => {
    this.responses.add(response);
    response.once('close', () => this.forget(response));
  };

  /** `response` no longer holds a shutdown: the shutdown ends it instead of waiting for it. */
  excuse(response: ServerResponse): void {
    this.forget(response);
  }

  /** Those whose answer has not started (no headers sent). */
  unstarted(): ServerResponse[] {
    return [...this.responses].filter((response) => !response.headersSent);
  }

  /** Resolves true once no request is in flight, or false when `timeoutMs` passes first. */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.responses.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters.delete(wake);
        resolve(false);
      }, timeoutMs);
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.add(wake);
    });
  }

  private forget(response: ServerResponse): void {
    if (!this.responses.delete(response) || this.responses.size > 0) return;
    for (const wake of this.idleWaiters) wake();
    this.idleWaiters.clear();
  }
}
