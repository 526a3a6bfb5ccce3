import type { IncomingMessage } from 'node:http';

/** Facts about one API request that code deep in the call chain adds and the request log line reports. */
export interface RequestFacts {
  /** Upstream conversation attempts made for this request (1 unless it was retried). */
  upstreamAttempts: number;
  /**
   * The id of the answer this request made (`chatcmpl-…`, `resp_…`): the id the in-request log lines name, so that
   * they can be matched with the request's line.
   */
  answerId?: string;
}

/**
 * The facts of each tracked request, reachable from the request and from the AbortSignal that stands for it
 * (`abortWhenClientLeaves`), which is what the request hands down to the code that adds facts. Not in the request
 * scope (`logging/request-scope.ts`): that holds only the request id, and not below `warn`.
 */
const factsOf = new WeakMap<IncomingMessage | AbortSignal, RequestFacts>();

/** Starts gathering facts for `request` (the request log does, when it will report them). */
export function trackRequestFacts(request: IncomingMessage): void {
  factsOf.set(request, { upstreamAttempts: 0 });
}

/** The facts gathered for `request`, once it is answered (undefined for requests nobody tracked). */
export function requestFactsOf(request: IncomingMessage): RequestFacts | undefined {
  return factsOf.get(request);
}

/** Lets code that holds only `signal` add to the facts of `request`. */
export function shareRequestFacts(request: IncomingMessage, signal: AbortSignal): void {
  const facts = factsOf.get(request);
  if (facts) factsOf.set(signal, facts);
}

/** Counts one upstream conversation attempt for the request `signal` stands for; does nothing for untracked requests. */
export function countUpstreamAttempt(signal: AbortSignal): void {
  const facts = factsOf.get(signal);
  if (facts) facts.upstreamAttempts++;
}

/** Names the answer the request `signal` stands for (the first name given stays); nothing for untracked requests. */
export function nameAnswer(signal: AbortSignal, answerId: string): void {
  const facts = factsOf.get(signal);
  if (facts) facts.answerId ??= answerId;
}
