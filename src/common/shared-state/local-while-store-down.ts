import type { Logger } from '@nestjs/common';
import { StoreUnavailableError } from '../errors/store-unavailable.error';

/**
 * Shared state that only protects or spares work (the sign-in and prefix-guess throttles, model caps, the send-flow
 * memory) must not take requests down with the store: while Redis does not answer, calls go to this process's own
 * copy (`local`, in memory), so a throttle still throttles, per instance, and a memory starts empty, its default.
 * The switch is logged once each way. Without Redis (`local` null) nothing changes: errors are thrown as ever.
 */
export class LocalWhileStoreDown<T> {
  private usingLocal = false;

  constructor(
    private readonly shared: T,
    private readonly local: T | null,
    private readonly logger: Logger,
    /** What is done with the state, for the log lines: e.g. `counting admin secret checks`. */
    private readonly what: string,
  ) {}

  /**
   * `call` on the shared state, or on this process's own while the store does not answer. `staysLocal` (a throttle's
   * lock-out): whether what this process counted while the store did not answer still decides, in memory, before the
   * store is asked; a network locked out here meanwhile stays so until its lock ends, though the store, back, holds no
   * count of it.
   */
  async run<R>(call: (state: T) => Promise<R>, staysLocal?: (local: T) => Promise<boolean>): Promise<R> {
    if (this.local && staysLocal && (await staysLocal(this.local))) return call(this.local);
    try {
      const result = await call(this.shared);
      if (this.usingLocal) this.logger.log(`${this.what} in the store again`);
      this.usingLocal = false;
      return result;
    } catch (error) {
      if (!(error instanceof StoreUnavailableError) || !this.local) throw error;
      // The message names the store without its credentials (`StoreUnavailableError.store`).
      if (!this.usingLocal) this.logger.warn(`${this.what} in this process while the store does not answer: ${error.message}`);
      this.usingLocal = true;
      return call(this.local);
    }
  }
}
