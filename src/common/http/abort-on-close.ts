import type { Request, Response } from 'express';

/** Aborts the upstream work when the client closes the connection before the answer is complete. */
export function abortWhenClientLeaves(request: Request, response: Response): AbortSignal {
  const controller = new AbortController();
  response.once('close', () => {
    if (!response.writableFinished) controller.abort();
  });
  request.once('aborted', () => controller.abort());
  return controller.signal;
}
