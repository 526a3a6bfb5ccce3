/**
 * Counts attempts per key (a client address) in a sliding window: once `max` fall within `windowMs`,
 * the key must wait until the oldest counted one leaves the window. Memory is bounded by `maxKeys`.
 */
export class AttemptWindow {
  private readonly attempts = new Map<string, number[]>();

  constructor(private readonly limits: { max: number; windowMs: number; maxKeys: number }) {}

  /** Seconds the key must still wait; 0 when it may try. */
  retryAfterSec(key: string, now: number): number {
    const recent = this.recent(key, now);
    if (recent.length < this.limits.max) return 0;
    const oldestCounted = recent[recent.length - this.limits.max];
    return Math.max(1, Math.ceil((oldestCounted + this.limits.windowMs - now) / 1000));
  }

  record(key: string, now: number): void {
    const recent = this.recent(key, now);
    recent.push(now);
    this.attempts.delete(key);
    this.attempts.set(key, recent);
    if (this.attempts.size > this.limits.maxKeys) this.attempts.delete(this.attempts.keys().next().value!);
  }

  reset(key: string): void {
    this.attempts.delete(key);
  }

  private recent(key: string, now: number): number[] {
    const recent = (this.attempts.get(key) ?? []).filter((at) => at > now - this.limits.windowMs);
    if (recent.length === 0) this.attempts.delete(key);
    return recent;
  }
}
