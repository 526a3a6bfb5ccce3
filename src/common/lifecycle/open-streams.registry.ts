import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';

/** A response being streamed that the server can end early, in-band, when it shuts down. */
export interface ShutdownEndable {
  /** Ends the stream now with an error event the client can read, then the stream terminator. */
  endForShutdown(): Promise<void>;
}

/**
 * The streams open right now, so that a shutdown can wait for them (`SHUTDOWN_GRACE_MS`) and then end
 * the rest cleanly instead of cutting their sockets. Writers register when they start and release when done.
 */
@Injectable()
export class OpenStreams implements BeforeApplicationShutdown {
  private readonly streams = new Set<ShutdownEndable>();
  private readonly idleWaiters = new Set<() => void>();

  get size(): number {
    return this.streams.size;
  }

  /** Returns the release function; releasing twice is harmless. */
  register(stream: ShutdownEndable): () => void {
    this.streams.add(stream);
    return () => {
      if (!this.streams.delete(stream) || this.streams.size > 0) return;
      for (const wake of this.idleWaiters) wake();
      this.idleWaiters.clear();
    };
  }

  /** Resolves true once no stream is open, or false when `timeoutMs` passes first. */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.streams.size === 0) return Promise.resolve(true);
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

  /** Ends every stream still open; returns how many there were. */
  async endAll(): Promise<number> {
    const open = [...this.streams];
    await Promise.all(open.map((stream) => stream.endForShutdown().catch(() => undefined)));
    return open.length;
  }

  /** `app.close()` without a graceful drain first (tests, a failed start): end what is left so the server can close. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.endAll();
  }
}
