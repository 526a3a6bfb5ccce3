import { Logger } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';

const logger = new Logger('HttpResponse');

/**
 * Express middleware: an `error` event on a response (a write after the answer ended, a socket error while it is
 * sent) is logged, never left unhandled, where it would stop the process.
 */
export function keepResponseErrorsLocal(_request: Request, response: Response, next: NextFunction): void {
  response.on('error', logResponseError);
  next();
}

function logResponseError(error: Error): void {
  logger.debug(`response error after the answer was under way: ${error.message}`);
}
