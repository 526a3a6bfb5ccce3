import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { ApiError } from '../common/errors/api-error';
import { Clock } from '../token-pool/clock';

const MAX_ENTRIES = 10_000;

/**
 * `ENABLE_LIMIT`: remembers when the upstream said an account's model cap resets (429 `clears_in`)
 * and refuses that account and model locally until then, instead of hammering the upstream.
 */
@Injectable()
export class ModelCapTracker {
  private readonly limitedUntil = new Map<string, number>();

  constructor(
    private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {}

  /** The 429 to answer when this account's cap on this model has not reset yet, else null. */
  refusal(accountKey: string, slug: string): ApiError | null {
    if (!this.config.enableLimit) return null;
    const key = keyOf(accountKey, slug);
    const until = this.limitedUntil.get(key);
    if (until === undefined) return null;
    const remaining = Math.ceil((until - this.clock.now()) / 1000);
    if (remaining <= 0) {
      this.limitedUntil.delete(key);
      return null;
    }
    return ApiError.rateLimited(
      `Request limit exceeded for ${slug}. You can continue with the default model now, or try again after ${new Date(until).toISOString()}.`,
      remaining,
    );
  }

  record(accountKey: string, slug: string, retryAfterSec: number | undefined): void {
    if (!this.config.enableLimit || !retryAfterSec) return;
    if (this.limitedUntil.size >= MAX_ENTRIES) this.prune();
    this.limitedUntil.set(keyOf(accountKey, slug), this.clock.now() + retryAfterSec * 1000);
  }

  private prune(): void {
    const now = this.clock.now();
    for (const [key, until] of this.limitedUntil) if (until <= now) this.limitedUntil.delete(key);
    if (this.limitedUntil.size >= MAX_ENTRIES) this.limitedUntil.clear();
  }
}

/** Keys hold a hash, never the token itself. */
function keyOf(accountKey: string, slug: string): string {
  return `${createHash('sha256').update(accountKey).digest('base64url').slice(0, 22)}:${slug}`;
}
