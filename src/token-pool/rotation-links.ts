import { createHash } from 'node:crypto';
import type { Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { setTimeout as delay } from 'node:timers/promises';
import { StoreUnavailableError } from '../common/errors/store-unavailable.error';
import { maskSecret } from '../common/util/secrets';
import type { Clock } from '../common/vocabulary/clock';
import { retryWhileStoreDown } from './stores/store-retry';

/** How many rotations are remembered (replaced value → newer value), least recently used dropped first. */
const MAX_ROTATIONS = 10_000;
/**
 * How long a stored rotation outlives its last change: a holder of the first value that comes back after that is
 * sent as spent (by then the auth server has long let the family expire too), and the store does not grow for good.
 */
export const STORED_ROTATION_TTL_MS = 90 * 24 * 3_600_000;
/**
 * A guard against a cycle or a runaway chain. Following a value shortens its chain, but a stored chain grows by a
 * hop for every rotation made while the holder of an older value was away.
 */
const MAX_ROTATION_HOPS = 1_000;
/** Every stored rotation's key starts so (`rotation:<kind>:<hash of the replaced value>`). */
export const ROTATION_KEY_PREFIX = 'rotation:';
/** The pace of the background tries to write links the store did not take: 0.1 s, doubling up to 1 s. */
const FIRST_UNSAVED_RETRY_MS = 100;
const MAX_UNSAVED_RETRY_MS = 1_000;

/** Where the newest value of a presented credential outlives this process: the pool's store (files or Redis). */
export interface DurableLinks {
  getMeta(key: string): Promise<string | null>;
  setMeta(key: string, value: string, ttlMs?: number): Promise<void>;
}

/**
 * Credentials the auth side replaces as they are used (a RefreshToken spent for a new one, a session cookie with a
 * sliding expiry): each value that was replaced points at a newer one, so that a holder of an older value (an API
 * key, a browser session) is exchanged with the newest rather than with one that is already spent.
 *
 * With a durable store, every value this process replaced, and every value presented to it, is also written there
 * (under a hash of the value) with the newest value known: whichever value of a chain an instance or a restarted
 * process starts from, following the stored values leads to the newest. A stored rotation is kept for
 * `STORED_ROTATION_TTL_MS` after its last change.
 */
export class RotationLinks {
  private readonly newer = new LRUCache<string, string>({ max: MAX_ROTATIONS });
  /** Value → what the store held for it when last read or written (itself when nothing): `newest` reads a value once. */
  private readonly stored = new LRUCache<string, string>({ max: MAX_ROTATIONS });
  /** Values this process replaced whose link the store does not hold yet: `keep` writes them. */
  private readonly unsaved = new LRUCache<string, true>({ max: MAX_ROTATIONS });
  /** Whether the background loop of `writeUnsavedInBackground` runs. */
  private writingUnsaved = false;
  /** Set by `close`: the background loop ends, and none starts again. */
  private closed = false;

  constructor(
    /** Names the kind of credential in the store's keys (`refresh-token`, `session-token`). */
    private readonly kind: string,
    /** Paces the tries of `keep` with `retry` while the store does not answer. */
    private readonly clock: Clock,
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

  /** The newest value for `value`, following the store's links through values this process has not read yet. */
  newest(value: string): Promise<string> {
    return this.follow(value, false);
  }

  /**
   * The newest value for `value`, reading the store again (another instance may have rotated it since), before an
   * exchange that would send a value: the value it resolves to is one the store does not know as replaced.
   */
  reread(value: string): Promise<string> {
    return this.follow(value, true);
  }

  /** `spent` was replaced by `replacement` (in this process; `keep` writes it to the store). */
  link(spent: string, replacement: string): void {
    if (spent === replacement) return;
    this.newer.set(spent, replacement);
    if (this.durable) this.unsaved.set(spent, true);
  }

  /**
   * Writes to the store the newest value of `presented` and of every value this process replaced, where the store
   * does not hold it yet; resolves to the newest value of `presented`. With `retry` (just after a rotation, before its
   * lock is let go), a write is tried again a few times while the store does not answer. A link still unwritten is
   * written in the background as soon as the store answers again (and by any later `keep`): until then this process
   * alone knows it, and follows it, while other instances would send the spent value.
   */
  async keep(presented: string, options: { retry?: boolean } = {}): Promise<string> {
    const newest = this.current(presented);
    if (!this.durable) return newest;
    const failure = await this.write([presented, ...this.unsaved.keys()], options.retry ?? false);
    if (failure) this.logger?.warn(`Could not store the rotation of ${maskSecret(failure.value)}: ${failure.error.message}`);
    if (this.unsaved.size > 0) this.writeUnsavedInBackground();
    return newest;
  }

  /** Writes the links of `values` the store does not hold yet, up to the first that fails (which it resolves to). */
  private async write(values: readonly string[], retry: boolean): Promise<{ value: string; error: Error } | undefined> {
    for (const value of new Set(values)) {
      const target = this.current(value);
      if (target === value || this.stored.get(value) === target) {
        this.unsaved.delete(value);
        continue;
      }
      const write = () => this.durable!.setMeta(this.keyOf(value), target, STORED_ROTATION_TTL_MS);
      try {
        await (retry ? retryWhileStoreDown(write, this.clock) : write());
        this.stored.set(value, target);
        this.unsaved.delete(value);
      } catch (error) {
        return { value, error: error as Error };
      }
    }
    return undefined;
  }

  /** Ends the background writes (the app is shutting down, its store with it): what is unwritten stays so. */
  close(): void {
    this.closed = true;
  }

  /**
   * Tries the unwritten links again, 0.1 s apart and then up to a second apart (real time: the store's), until the store
   * takes them all; quietly, once a store that does not answer has been reported by `keep`. One loop per process.
   */
  private writeUnsavedInBackground(): void {
    if (this.writingUnsaved || this.closed) return;
    this.writingUnsaved = true;
    void (async () => {
      try {
        for (
          let pauseMs = FIRST_UNSAVED_RETRY_MS;
          this.unsaved.size > 0 && !this.closed;
          pauseMs = Math.min(pauseMs * 2, MAX_UNSAVED_RETRY_MS)
        ) {
          await delay(pauseMs, undefined, { ref: false });
          const failure = await this.write([...this.unsaved.keys()], false);
          if (failure && !(failure.error instanceof StoreUnavailableError)) {
            this.logger?.warn(`Could not store the rotation of ${maskSecret(failure.value)}: ${failure.error.message}`);
            return;
          }
          if (!failure) this.logger?.log('Stored the rotations this process made while the store did not answer');
        }
      } finally {
        this.writingUnsaved = false;
      }
    })();
  }

  /**
   * Follows `value` to its newest value: this process's links first, then the store's, read at `value` and at every
   * value reached that has no newer one here (`fresh`: read even when read before). While the store does not answer,
   * what this process knows.
   */
  private async follow(value: string, fresh: boolean): Promise<string> {
    if (!this.durable) return this.current(value);
    const read = new Set<string>();
    let next = value;
    try {
      while (!read.has(next) && read.size < MAX_ROTATION_HOPS) {
        read.add(next);
        if (fresh || !this.stored.has(next)) await this.readStored(next);
        next = this.current(value);
      }
    } catch (error) {
      this.logger?.warn(`Could not read the stored rotation of ${maskSecret(next)}: ${(error as Error).message}`);
    }
    return this.current(value);
  }

  private async readStored(value: string): Promise<void> {
    const stored = (await this.durable!.getMeta(this.keyOf(value))) ?? value;
    this.stored.set(value, stored);
    const known = this.current(value);
    // Newer than what this process knows, unless this process has itself rotated it since (it leads to `known`).
    if (stored !== value && this.current(stored) !== known) this.newer.set(known, stored);
  }

  private keyOf(value: string): string {
    return `${ROTATION_KEY_PREFIX}${this.kind}:${credentialHash(value)}`;
  }
}

/** How a credential is named in the store's keys and locks: never by its value. */
export function credentialHash(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
