import { AsyncLocalStorage } from 'node:async_hooks';
import type { NextFunction, Request, Response } from 'express';

/** Facts about one API request that code deep in the call chain adds and the request log line reports. */
export interface RequestFacts {
  /** Upstream conversation attempts made for this request (1 unless it was retried). */
  upstreamAttempts: number;
}

const storage = new AsyncLocalStorage<RequestFacts>();
const FACTS = Symbol('flowgpt.requestFacts');

type RequestWithFacts = Request & { [FACTS]?: RequestFacts };

/** Express middleware: opens the facts of this request for everything that runs on its behalf. */
export function trackRequestFacts(request: Request, _response: Response, next: NextFunction): void {
  const facts: RequestFacts = { upstreamAttempts: 0 };
  (request as RequestWithFacts)[FACTS] = facts;
  storage.run(facts, next);
}

/** The facts gathered for `request`, once it is answered (undefined for requests the middleware did not see). */
export function requestFactsOf(request: Request): RequestFacts | undefined {
  return (request as RequestWithFacts)[FACTS];
}

/** Counts one upstream conversation attempt for the current request; does nothing outside a request. */
export function countUpstreamAttempt(): void {
  const facts = storage.getStore();
  if (facts) facts.upstreamAttempts++;
}
