import { LRUCache } from 'lru-cache';

/** How many rotations are remembered (presented value → newest value), least recently used dropped first. */
const MAX_ROTATIONS = 10_000;
/** Rotations are followed at most this far (each link points straight at the newest value, so chains stay short). */
const MAX_ROTATION_HOPS = 8;

/**
 * Credentials the auth side replaces as they are used (a RefreshToken spent for a new one, a session cookie with a
 * sliding expiry): each value that was replaced points at the newest known, so that a holder of an older value (an
 * API key, a browser session) is exchanged with the newest rather than with one that is already spent. Kept in this
 * process only; the pool and browser sessions write the newest value to their own records.
 */
export class RotationLinks {
  private readonly newer = new LRUCache<string, string>({ max: MAX_ROTATIONS });

  /** The newest value known for `value` (itself when it was never replaced). */
  current(value: string): string {
    let newest = value;
    for (let hop = 0; hop < MAX_ROTATION_HOPS; hop++) {
      const next = this.newer.get(newest);
      if (!next || next === newest) break;
      newest = next;
    }
    return newest;
  }

  /** `spent` was replaced by `replacement`. */
  link(spent: string, replacement: string): void {
    if (spent !== replacement) this.newer.set(spent, replacement);
  }
}
