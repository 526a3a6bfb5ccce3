import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { trackRequestFacts } from '../common/http/request-facts';
import { requestLogFields, requestLogMessage } from './request-log';
import { runAsRequest } from './request-scope';
import { ROOT_LOGGER } from './root-logger';

/** Request ids count up and wrap around, as a 31-bit number. */
const LAST_REQUEST_ID = 0x7fffffff;

/**
 * Writes the one line per request (`requestLogFields`) once its connection is done with it: at `info`, or at `warn`
 * for a 5xx answer. A connection closed before the answer was complete is a client that stopped reading (a user who
 * pressed stop, a timeout on its side), not a fault of ours: an `info` line that says so (`closedEarly`). The rest of
 * the request's handling runs as that request (`runAsRequest`), so every line it logs carries the same `reqId`.
 * Below `warn` (the level is fixed at start) it watches nothing at all.
 */
@Injectable()
export class RequestLogMiddleware implements NestMiddleware {
  private readonly watching: boolean;
  private lastRequestId = 0;

  constructor(@Inject(ROOT_LOGGER) private readonly logger: Logger) {
    this.watching = logger.isLevelEnabled('warn');
  }

  use(request: Request, response: Response, next: NextFunction): void {
    if (!this.watching) return next();
    const startedAt = performance.now();
    const reqId = (this.lastRequestId = (this.lastRequestId % LAST_REQUEST_ID) + 1);
    trackRequestFacts(request);
    // A response emits `close` after `finish`, or alone when the connection went away first.
    response.once('close', () => this.write(request, response, reqId, Math.round(performance.now() - startedAt)));
    runAsRequest(reqId, next);
  }

  private write(request: Request, response: Response, reqId: number, durationMs: number): void {
    const closedEarly = !response.writableFinished;
    const failure = !closedEarly && response.statusCode >= 500 ? `failed with status code ${response.statusCode}` : undefined;
    const level = failure ? 'warn' : 'info';
    if (!this.logger.isLevelEnabled(level)) return;
    const fields = requestLogFields(request, response, durationMs);
    const outcome = failure ? { error: failure } : closedEarly ? { closedEarly: 'connection closed before the response was complete' } : {};
    this.logger[level]({ reqId, ...fields, ...outcome }, requestLogMessage(fields));
  }
}
