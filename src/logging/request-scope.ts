import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The id of the request whose work is running (`reqId`, as its request line has it), so that every line logged
 * while serving it says which request it belongs to, wherever in the call chain it is written. One `run` per request,
 * entered by the request log middleware; the logger reads it on each line it writes (`requestScopeFields`).
 */
const requestIds = new AsyncLocalStorage<number>();

/** Runs `work` (the rest of the request's handling) as request `reqId`'s. */
export function runAsRequest(reqId: number, work: () => void): void {
  requestIds.run(reqId, work);
}

/** The fields a log line written now gets: the request's `reqId` while one is being served, else none. */
export function requestScopeFields(): { reqId?: number } {
  const reqId = requestIds.getStore();
  // A fresh object each time: pino merges the line's own fields into it.
  return reqId === undefined ? {} : { reqId };
}
