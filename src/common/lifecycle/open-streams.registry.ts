import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { InFlightRequests } from './in-flight-requests';

/** A response being streamed that the server can end early, in-band, when it shuts down. */
export interface ShutdownEndable {
  /** Ends the stream now, properly: in the API's streams, with an error event the client can read and the terminator. */
  endForShutdown(): Promise<void>;
}

/**
 * The streams open right now, so that a shutdown can end those still open after its grace period cleanly, in-band,
 * instead of cutting their sockets (the wait itself is on every request in flight, `InFlightRequests`). Writers
 * register when they start and release when done.
 *
 * A stream whose client recovers from an early end (`registerRecoverable`) is not waited for: the shutdown ends it
 * once the rest has drained, at once when nothing else runs.
 */
@Injectable()
export class OpenStreams implements BeforeApplicationShutdown {
  private readonly streams = new Set<ShutdownEndable>();
  private readonly recoverable = new Set<ShutdownEndable>();

  constructor(private readonly inFlight: InFlightRequests) {}

  /** The streams a shutdown waits for. */
  get size(): number {
    return this.streams.size;
  }

  /** The streams a shutdown ends without waiting for them. */
  get recoverableSize(): number {
    return this.recoverable.size;
  }

  /** Returns the release function; releasing twice is harmless. */
  register(stream: ShutdownEndable): () => void {
    this.streams.add(stream);
    return () => void this.streams.delete(stream);
  }

  /**
   * A stream of `response` whose client gets what it misses elsewhere once the stream has ended (the gateway's
   * conversation streams: the turn lives upstream, and the web app reads it back from there): a shutdown does not
   * wait for it. Returns the release function.
   */
  registerRecoverable(response: ServerResponse, stream: ShutdownEndable): () => void {
    this.recoverable.add(stream);
    this.inFlight.excuse(response);
    return () => void this.recoverable.delete(stream);
  }

  /** Ends the recoverable streams still open; returns how many there were. */
  endRecoverable(): Promise<number> {
    return endEach(this.recoverable);
  }

  /** Ends every stream still open; returns how many there were. */
  async endAll(): Promise<number> {
    const [recoverable, waited] = await Promise.all([endEach(this.recoverable), endEach(this.streams)]);
    return recoverable + waited;
  }

  /** `app.close()` without a graceful drain first (tests, a failed start): end what is left so the server can close. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.endAll();
  }
}

async function endEach(streams: Set<ShutdownEndable>): Promise<number> {
  const open = [...streams];
  await Promise.all(open.map((stream) => stream.endForShutdown().catch(() => undefined)));
  return open.length;
}
