import type { Request, Response } from 'express';
import { shareRequestFacts } from './request-facts';

/**
 * Aborts the upstream work when the client closes the connection before the answer is complete. The signal also
 * carries the request's facts (`countUpstreamAttempt`), so hand this very signal down, not one derived from it.
 */
export function abortWhenClientLeaves(request: Request, response: Response): AbortSignal {
  const controller = new AbortController();
  response.once('close', () => {
    if (!response.writableFinished) controller.abort();
  });
  request.once('aborted', () => controller.abort());
  shareRequestFacts(request, controller.signal);
  return controller.signal;
}
