import { StoreUnavailableError } from '../../common/errors/store-unavailable.error';
import type { Clock } from '../../common/vocabulary/clock';

/** The waits between tries of a write that must not be lost while the store does not answer (a Redis restart, a failover). */
export const STORE_RETRY_DELAYS_MS = [100, 400, 1_500] as const;

/**
 * Runs `write`, and again after each of `STORE_RETRY_DELAYS_MS` while it fails with `StoreUnavailableError`. Any other
 * failure, and the last one, is thrown.
 */
export async function retryWhileStoreDown<T>(write: () => Promise<T>, clock: Clock): Promise<T> {
  for (const delayMs of STORE_RETRY_DELAYS_MS) {
    try {
      return await write();
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
    }
    await clock.wait(delayMs);
  }
  return write();
}
