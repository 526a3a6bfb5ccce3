/**
 * The store that holds shared state (the Redis of `REDIS_URL`, or the files under `DATA_DIR`) did not
 * answer: it is down, unreachable or stalled. Requests that need it get a 503 `store_unavailable`, never
 * a 500 and never a hang; the exception filter turns this into the client's error.
 */
export class StoreUnavailableError extends Error {
  constructor(
    /** Which store, safe to show: for example `Redis at redis://***@cache:6379`. */
    readonly store: string,
    cause: unknown,
  ) {
    super(`${store} is not answering (${cause instanceof Error ? cause.message : String(cause)})`, { cause });
    this.name = 'StoreUnavailableError';
  }
}
