import { createHash } from 'node:crypto';
import type { Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { maskSecret } from '../common/util/secrets';

/** How many rotations are remembered (presented value → newest value), least recently used dropped first. */
const MAX_ROTATIONS = 10_000;
/**
 * How long a stored rotation outlives its last change: a holder of the first value that comes back after that is
 * sent as spent (by then the auth server has long let the family expire too), and the store does not grow for good.
 */
export const STORED_ROTATION_TTL_MS = 90 * 24 * 3_600_000;
/** A guard against a cycle: following a value shortens its chain, so a real one is a hop or two long. */
const MAX_ROTATION_HOPS = 64;

/** Where the newest value of a presented credential outlives this process: the pool's store (files or Redis). */
export interface DurableLinks {
  getMeta(key: string): Promise<string | null>;
  setMeta(key: string, value: string, ttlMs?: number): Promise<void>;
}

/**
 * Credentials the auth side replaces as they are used (a RefreshToken spent for a new one, a session cookie with a
 * sliding expiry): each value that was replaced points at the newest known, so that a holder of an older value (an
 * API key, a browser session) is exchanged with the newest rather than with one that is already spent.
 *
 * With a durable store, the newest value of each presented value is also written there (under a hash of the
 * presented value), and read back the first time this process meets a value: an API client that keeps its first
 * RefreshToken as its key keeps working after a restart, and with Redis on every instance. A stored rotation is
 * kept for `STORED_ROTATION_TTL_MS` after its last change.
 */
export class RotationLinks {
  private readonly newer = new LRUCache<string, string>({ max: MAX_ROTATIONS });
  /** Presented value → the newest value the store holds for it (itself when none): the store is read once per value. */
  private readonly stored = new LRUCache<string, string>({ max: MAX_ROTATIONS });

  constructor(
    /** Names the kind of credential in the store's keys (`refresh-token`, `session-token`). */
    private readonly kind: string,
    private readonly durable?: DurableLinks,
    private readonly logger?: Logger,
  ) {}

  /**
   * The newest value this process knows for `value` (itself when it was never replaced). Every value passed on the
   * way is pointed straight at it, so that however often a value is rotated its chain stays a hop long.
   */
  current(value: string): string {
    const passed: string[] = [];
    let newest = value;
    for (let hop = 0; hop < MAX_ROTATION_HOPS; hop++) {
      const next = this.newer.get(newest);
      if (!next || next === newest) break;
      passed.push(newest);
      newest = next;
    }
    for (const older of passed.slice(0, -1)) this.newer.set(older, newest);
    return newest;
  }

  /** The newest value for `value`, read from the store the first time this process meets it. */
  async newest(value: string): Promise<string> {
    if (this.durable && !this.stored.has(value)) await this.reread(value);
    return this.current(value);
  }

  /**
   * Reads the store's newest value for `value` again (another instance may have rotated it since), before an
   * exchange that would send a value: resolves to the newest known afterwards.
   */
  async reread(value: string): Promise<string> {
    if (!this.durable) return this.current(value);
    try {
      const stored = (await this.durable.getMeta(this.keyOf(value))) ?? value;
      this.stored.set(value, stored);
      const known = this.current(value);
      // Newer than what this process knows, unless this process has itself rotated it since (it leads to `known`).
      if (stored !== value && this.current(stored) !== known) this.newer.set(known, stored);
    } catch (error) {
      this.logger?.warn(`Could not read the stored rotation of ${maskSecret(value)}: ${(error as Error).message}`);
    }
    return this.current(value);
  }

  /** `spent` was replaced by `replacement` (in this process; `keep` writes it to the store for whoever presented it). */
  link(spent: string, replacement: string): void {
    if (spent !== replacement) this.newer.set(spent, replacement);
  }

  /** Writes the newest value of `presented` to the store when it changed; resolves to that newest value. */
  async keep(presented: string): Promise<string> {
    const newest = this.current(presented);
    if (!this.durable || newest === presented || this.stored.get(presented) === newest) return newest;
    try {
      await this.durable.setMeta(this.keyOf(presented), newest, STORED_ROTATION_TTL_MS);
      this.stored.set(presented, newest);
    } catch (error) {
      this.logger?.warn(`Could not store the rotation of ${maskSecret(presented)}: ${(error as Error).message}`);
    }
    return newest;
  }

  private keyOf(value: string): string {
    return `rotation:${this.kind}:${credentialHash(value)}`;
  }
}

/** How a credential is named in the store's keys and locks: never by its value. */
export function credentialHash(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
