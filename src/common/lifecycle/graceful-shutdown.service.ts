import { Injectable, INestApplication, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Server } from 'node:http';
import { AppConfig } from '../../config/app-config';
import { errorBody } from '../errors/api-error';
import { BackgroundWork } from './background-work';
import { InFlightRequests } from './in-flight-requests';
import { OpenStreams } from './open-streams.registry';

export const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/**
 * SIGTERM/SIGINT: stop accepting connections and starting refresh jobs, give every request in flight (streams, and
 * requests whose answer has not started: a chat waiting for the upstream) and every credential renewal under way
 * `SHUTDOWN_GRACE_MS` to finish, end the streams still open in-band (error event + `[DONE]`) and answer the other
 * requests 503 `server_shutting_down`, then close the app (Nest's shutdown hooks flush and close the store).
 * The gateway's conversation streams are not waited for (`OpenStreams.registerRecoverable`): they run while the
 * rest drains and are then ended properly, at once when nothing else is in flight.
 *
 * The drain runs before `app.close()` on purpose: Nest's `onModuleDestroy` hooks (the upstream agents among
 * them) run first thing in `close()` and would cut the upstream side of every open stream, and of every renewal
 * whose rotated RefreshToken is not stored yet.
 */
@Injectable()
export class GracefulShutdown implements OnApplicationBootstrap {
  private readonly logger = new Logger('Shutdown');

  constructor(
    private readonly config: AppConfig,
    private readonly adapterHost: HttpAdapterHost,
    private readonly inFlight: InFlightRequests,
    private readonly streams: OpenStreams,
    private readonly background: BackgroundWork,
  ) {}

  onApplicationBootstrap(): void {
    (this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined)?.on('request', this.inFlight.track);
  }

  async drain(signal: string): Promise<void> {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
    server?.close();
    this.background.stop();
    const grace = this.config.shutdownGraceMs;
    this.logger.log(
      `${signal}: no longer accepting connections; ${this.inFlight.size} request(s) in flight, ${this.streams.size} of them ` +
        `streaming, ${this.streams.recoverableSize} gateway stream(s) (ended once the rest is done: the web app reads ` +
        `their turns back from the upstream), and ${this.background.size} credential renewal(s) or refresh job(s) running; ` +
        `waiting up to ${grace} ms`,
    );
    const [requestsDone, backgroundDone] = await Promise.all([this.inFlight.whenIdle(grace), this.background.whenSettled(grace)]);
    if (!backgroundDone) {
      this.logger.warn(
        `After ${grace} ms, ${this.background.size} credential renewal(s) still running are cut off: a RefreshToken the auth server ` +
          'rotated meanwhile is not stored',
      );
    }
    // Not waited for, and no longer cut by the close either: ended properly before the streams the grace was for.
    const recoverable = await this.streams.endRecoverable();
    if (recoverable > 0) this.logger.log(`${recoverable} gateway stream(s) ended`);
    if (!requestsDone) {
      const ended = await this.streams.endAll();
      const refused = this.refuseUnstarted();
      this.logger.warn(
        `After ${grace} ms, ${ended} stream(s) still open were ended with an error event and ${refused} request(s) ` +
          'still waiting were answered 503',
      );
    }
    // Keep-alive connections that went idle while we waited would otherwise hold the close for their timeout.
    server?.closeIdleConnections();
  }

  /** Answers every request whose answer has not started: the app is about to close under it. */
  private refuseUnstarted(): number {
    const unstarted = this.inFlight.unstarted();
    for (const response of unstarted) {
      const body = JSON.stringify(
        errorBody('The server is shutting down; the request was not answered. Retry it.', 'server_error', 'server_shutting_down'),
      );
      response.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '1', connection: 'close' });
      response.end(body);
    }
    return unstarted.length;
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
