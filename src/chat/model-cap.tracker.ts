import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { AppConfig } from '../config/app-config';
import { ApiError } from '../common/errors/api-error';
import type { KeyValueStore } from '../common/shared-state/key-value.store';
import { SharedState } from '../common/shared-state/shared-state';
import { Clock } from '../common/vocabulary/clock';

/**
 * `ENABLE_LIMIT`: remembers when the upstream said an account's model cap resets (429 `clears_in`)
 * and refuses that account and model locally until then, instead of hammering the upstream. Kept in the
 * shared state, so a cap one instance learnt holds for every instance on the same Redis.
 */
@Injectable()
export class ModelCapTracker {
  private readonly limitedUntil: KeyValueStore;
  /** An account key's hash, worked out once per account rather than twice per request. */
  private readonly hashes = new LRUCache<string, string>({ max: 4096 });

  constructor(
    private readonly config: AppConfig,
    shared: SharedState,
    private readonly clock: Clock,
  ) {
    this.limitedUntil = shared.keyValues('model-cap', { durable: true });
  }

  /** The 429 to answer when this account's cap on this model has not reset yet, else null. */
  async refusal(accountKey: string, slug: string): Promise<ApiError | null> {
    if (!this.config.enableLimit) return null;
    const now = this.clock.now();
    const until = Number(await this.limitedUntil.get(this.keyOf(accountKey, slug), now));
    const remaining = Math.ceil((until - now) / 1000);
    if (!until || remaining <= 0) return null;
    return ApiError.of('model_cap', { slug, until: new Date(until).toISOString() }, { retryAfter: remaining });
  }

  async record(accountKey: string, slug: string, retryAfterSec: number | undefined): Promise<void> {
    if (!this.config.enableLimit || !retryAfterSec) return;
    const now = this.clock.now();
    await this.limitedUntil.set(this.keyOf(accountKey, slug), String(now + retryAfterSec * 1000), now, retryAfterSec * 1000);
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
