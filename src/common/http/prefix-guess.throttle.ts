import { Injectable } from '@nestjs/common';

const MAX_MISSES = 20;
const WINDOW_MS = 15 * 60_000;
const MAX_TRACKED_ADDRESSES = 10_000;

/**
 * `API_PREFIX` is a secret in the path (and the admin secret when `ADMIN_KEY` is unset), so wrong prefixes
 * are guesses: after 20 within 15 minutes an address is refused on prefixed paths, even with the right prefix,
 * so that a guesser cannot tell when it has found it.
 */
@Injectable()
export class PrefixGuessThrottle {
  private readonly misses = new Map<string, number[]>();

  isLocked(address: string, now = Date.now()): boolean {
    return this.recent(address, now).length >= MAX_MISSES;
  }

  /** Seconds until a locked address may try again. */
  retryAfterSec(address: string, now = Date.now()): number {
    const recent = this.recent(address, now);
    if (recent.length < MAX_MISSES) return 0;
    return Math.max(1, Math.ceil((recent[recent.length - MAX_MISSES] + WINDOW_MS - now) / 1000));
  }

  recordMiss(address: string, now = Date.now()): void {
    const recent = this.recent(address, now);
    recent.push(now);
    this.misses.delete(address);
    this.misses.set(address, recent);
    if (this.misses.size > MAX_TRACKED_ADDRESSES) this.misses.delete(this.misses.keys().next().value!);
  }

  private recent(address: string, now: number): number[] {
    const recent = (this.misses.get(address) ?? []).filter((at) => at > now - WINDOW_MS);
    if (recent.length === 0) this.misses.delete(address);
    return recent;
  }
}
