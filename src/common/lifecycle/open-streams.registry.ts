import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';

/** A response being streamed that the server can end early, in-band, when it shuts down. */
export interface ShutdownEndable {
  /** Ends the stream now with an error event the client can read, then the stream terminator. */
  endForShutdown(): Promise<void>;
}

/**
 * The streams open right now, so that a shutdown can end those still open after its grace period cleanly, in-band,
 * instead of cutting their sockets (the wait itself is on every request in flight, `InFlightRequests`). Writers
 * register when they start and release when done.
 */
@Injectable()
export class OpenStreams implements BeforeApplicationShutdown {
  private readonly streams = new Set<ShutdownEndable>();

  get size(): number {
    return this.streams.size;
  }

  /** Returns the release function; releasing twice is harmless. */
  register(stream: ShutdownEndable): () => void {
    this.streams.add(stream);
    return () => void this.streams.delete(stream);
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
