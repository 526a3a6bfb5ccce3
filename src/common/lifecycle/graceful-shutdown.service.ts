import { Injectable, INestApplication, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Server } from 'node:http';
import { AppConfig } from '../../config/app-config';
import { OpenStreams } from './open-streams.registry';

export const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/**
 * SIGTERM/SIGINT: stop accepting connections, give open streams `SHUTDOWN_GRACE_MS` to finish, end the rest
 * in-band (error event + `[DONE]`), then close the app (Nest's shutdown hooks flush and close the store).
 *
 * The drain runs before `app.close()` on purpose: Nest's `onModuleDestroy` hooks (the upstream agents among
 * them) run first thing in `close()` and would cut the upstream side of every open stream.
 */
@Injectable()
export class GracefulShutdown {
  private readonly logger = new Logger('Shutdown');

  constructor(
    private readonly config: AppConfig,
    private readonly adapterHost: HttpAdapterHost,
    private readonly streams: OpenStreams,
  ) {}

  async drain(signal: string): Promise<void> {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
    server?.close();
    const open = this.streams.size;
    this.logger.log(`${signal}: no longer accepting connections; ${open} open stream(s), waiting up to ${this.config.shutdownGraceMs} ms`);
    if (!(await this.streams.whenIdle(this.config.shutdownGraceMs))) {
      const ended = await this.streams.endAll();
      this.logger.warn(`${ended} stream(s) still open after ${this.config.shutdownGraceMs} ms were ended with an error event`);
    }
    // Keep-alive connections that went idle while we waited would otherwise hold the close for their timeout.
    server?.closeIdleConnections();
  }
}

/**
 * Installs the SIGTERM/SIGINT handlers of the running server: drain, `app.close()`, exit 0 (1 when closing fails).
 * A second signal while draining is ignored, like Nest's own handler does.
 */
export function exitGracefullyOnSignals(app: INestApplication): void {
  let shuttingDown = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (shuttingDown) return;
    shuttingDown = true;
    void (async () => {
      try {
        await app.get(GracefulShutdown).drain(signal);
        await app.close();
        process.exit(0);
      } catch (error) {
        new Logger('Shutdown').error(`Shutdown failed: ${(error as Error).stack ?? String(error)}`);
        process.exit(1);
      }
    })();
  };
  for (const signal of SHUTDOWN_SIGNALS) process.on(signal, onSignal);
}
