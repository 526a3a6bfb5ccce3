import { Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { AppConfig } from '../config/app-config';
import { ApiError } from '../common/errors/api-error';
import type { KeyValueStore } from '../common/shared-state/key-value.store';
import { LocalWhileStoreDown } from '../common/shared-state/local-while-store-down';
import { SharedState } from '../common/shared-state/shared-state';
import { Clock } from '../common/vocabulary/clock';

/**
 * `ENABLE_LIMIT`: remembers when the upstream said an account's model cap resets (429 `clears_in`)
 * and refuses that account and model locally until then, instead of hammering the upstream. Kept in the
 * shared state, so a cap one instance learnt holds for every instance on the same Redis. It only spares the upstream
 * calls it would refuse: while Redis does not answer, caps are kept in this process (none known at first), and a chat
 * made with the caller's own token, which needs no pool, goes on.
 */
@Injectable()
export class ModelCapTracker {
  private readonly limitedUntil: LocalWhileStoreDown<KeyValueStore>;
  /** An account key's hash, worked out once per account rather than twice per request. */
  private readonly hashes = new LRUCache<string, string>({ max: 4096 });

  constructor(
    private readonly config: AppConfig,
    shared: SharedState,
    private readonly clock: Clock,
  ) {
    const namespace = 'model-cap';
    this.limitedUntil = new LocalWhileStoreDown(
      shared.keyValues(namespace, { durable: true }),
      shared.local?.keyValues(namespace) ?? null,
      new Logger(ModelCapTracker.name),
      'remembering model caps',
    );
  }

  /** The 429 to answer when this account's cap on this model has not reset yet, else null. */
  async refusal(accountKey: string, slug: string): Promise<ApiError | null> {
    if (!this.config.enableLimit) return null;
    const now = this.clock.now();
    const key = this.keyOf(accountKey, slug);
    const until = Number(await this.limitedUntil.run((store) => store.get(key, now)));
    const remaining = Math.ceil((until - now) / 1000);
    if (!until || remaining <= 0) return null;
    return ApiError.of('model_cap', { slug, until: new Date(until).toISOString() }, { retryAfter: remaining });
  }

  async record(accountKey: string, slug: string, retryAfterSec: number | undefined): Promise<void> {
    if (!this.config.enableLimit || !retryAfterSec) return;
    const now = this.clock.now();
    const key = this.keyOf(accountKey, slug);
    await this.limitedUntil.run((store) => store.set(key, String(now + retryAfterSec * 1000), now, retryAfterSec * 1000));
  }

  /** Keys hold a hash, never the token itself. */
  private keyOf(accountKey: string, slug: string): string {
    let hash = this.hashes.get(accountKey);
    if (hash === undefined) {
      hash = createHash('sha256').update(accountKey).digest('base64url').slice(0, 22);
      this.hashes.set(accountKey, hash);
    }
    return `${hash}:${slug}`;
  }
}
