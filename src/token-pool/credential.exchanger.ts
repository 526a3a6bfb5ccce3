import type { Logger, OnApplicationShutdown } from '@nestjs/common';
import { maskSecret } from '../common/util/secrets';
import type { Clock } from '../common/vocabulary/clock';
import { type DurableLinks, RotationLinks } from './rotation-links';
import { SharedExchanges } from './shared-exchanges';

/**
 * What the RefreshToken and SessionToken exchangers do alike: their results are cached (`SharedExchanges`) under the
 * value sent and the newest value it rotated to (`RotationLinks`), and the upstream's verdict on an AccessToken they
 * gave acts on that cache. How a credential is exchanged is each kind's own.
 */
export abstract class CredentialExchanger<T extends { accessToken: string; expiresAt: number }> implements OnApplicationShutdown {
  protected readonly exchanges: SharedExchanges<T>;
  protected readonly rotations: RotationLinks;

  /**
   * @param kind names the credential in the store's keys.
   * @param store where rotations outlive this process (files or Redis); without one they are kept in memory only.
   */
  protected constructor(
    kind: 'refresh-token' | 'session-token',
    protected readonly logger: Logger,
    protected readonly clock: Clock,
    store: DurableLinks | undefined,
  ) {
    this.exchanges = new SharedExchanges(clock);
    this.rotations = new RotationLinks(kind, clock, store, logger);
  }

  /** Nest calls this at shutdown: the rotations stop writing in the background to a store that is closing. */
  onApplicationShutdown(): void {
    this.rotations.close();
  }

  /** Drops what is cached for this credential (for example after its account was removed from the pool). */
  forget(credential: string): void {
    this.exchanges.forget(this.rotations.current(credential));
    this.exchanges.forget(credential);
  }

  /**
   * The upstream refused (401) `accessToken`, which an exchange of the caller's own `credential` gave: the next
   * exchange asks afresh, unless the refusals in a row call for waiting (see `SharedExchanges.refused`).
   */
  refused(credential: string, accessToken: string): void {
    if (this.exchanges.refused(credential, [this.rotations.current(credential), credential], accessToken))
      this.logger.warn(
        `Access token ${maskSecret(accessToken)} of ${maskSecret(credential)} refused upstream: the next request exchanges afresh`,
      );
  }

  /** The upstream took an AccessToken of this credential's. */
  accepted(credential: string): void {
    this.exchanges.accepted(credential);
  }
}
