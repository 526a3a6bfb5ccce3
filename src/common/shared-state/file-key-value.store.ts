import { Logger } from '@nestjs/common';
import { readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { StartProblem } from '../startup/start-problem';
import { isTempOf, writeFileAtomically } from '../util/atomic-file';
import type { KeyValueStore } from './key-value.store';

/** Changes close together are written once: at most one snapshot per this delay. */
export const SNAPSHOT_DELAY_MS = 1_000;
const FORMAT_VERSION = 1;

interface Entry {
  value: string;
  /** Epoch ms on the callers' clock; null keeps the value until it is deleted. */
  expiresAt: number | null;
}

interface SnapshotFile {
  version: number;
  entries: [key: string, value: string, expiresAt: number | null][];
}

/**
 * The in-memory key-value store of a single instance, kept in a file under `DATA_DIR` so that what users expect
 * to outlive a restart does (browser and admin sign-ins, which pool account a conversation lives on, file links).
 * Reads are served from memory; every change schedules one snapshot of the whole namespace, written atomically
 * (temp file, fsync, rename), so a crash leaves the previous snapshot whole. Least recently used values beyond
 * `maxEntries` go, as in memory. A file that does not parse is set aside (`*.unreadable`) and the store starts empty:
 * this state is worth keeping, not worth refusing to start over. A file that is there but cannot be read at all stops
 * the start instead: starting empty would write over it.
 */
export class FileKeyValueStore implements KeyValueStore {
  private readonly logger = new Logger(FileKeyValueStore.name);
  /** Insertion order is recency: a read or write moves the key to the end. */
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<boolean> | null = null;
  private dirty = false;
  /** The latest `now` a caller passed: what a snapshot measures expiry against. */
  private now = 0;

  constructor(
    private readonly path: string,
    private readonly maxEntries: number,
  ) {
    this.load();
  }

  get(key: string, now: number): Promise<string | null> {
    this.now = Math.max(this.now, now);
    const entry = this.entries.get(key);
    if (!entry) return Promise.resolve(null);
    if (entry.expiresAt !== null && entry.expiresAt <= now) {
      this.entries.delete(key);
      this.changed();
      return Promise.resolve(null);
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    return Promise.resolve(entry.value);
  }

  set(key: string, value: string, now: number, ttlMs?: number): Promise<void> {
    this.now = Math.max(this.now, now);
    this.entries.delete(key);
    if (ttlMs === undefined || ttlMs > 0) this.put(key, { value, expiresAt: ttlMs === undefined ? null : now + ttlMs });
    this.changed();
    return Promise.resolve();
  }

  setIfAbsent(key: string, value: string): Promise<string> {
    const current = this.entries.get(key);
    if (current && (current.expiresAt === null || current.expiresAt > this.now)) return Promise.resolve(current.value);
    this.entries.delete(key);
    this.put(key, { value, expiresAt: null });
    this.changed();
    return Promise.resolve(value);
  }

  async setIfPresent(key: string, value: string, now: number, ttlMs?: number): Promise<boolean> {
    const current = this.entries.get(key);
    if (!current || (current.expiresAt !== null && current.expiresAt <= Math.max(this.now, now))) return false;
    await this.set(key, value, now, ttlMs);
    return true;
  }

  /** Without an await between the comparison and the write, so no other call comes in between. */
  replaceIf(key: string, expected: string, value: string, now: number, ttlMs?: number): Promise<boolean> {
    const current = this.entries.get(key);
    if (!current || current.value !== expected || (current.expiresAt !== null && current.expiresAt <= Math.max(this.now, now)))
      return Promise.resolve(false);
    return this.set(key, value, now, ttlMs).then(() => true);
  }

  /** Without an await between the read and the delete, so no other call comes in between. */
  take(key: string, now: number): Promise<string | null> {
    const value = this.get(key, now);
    if (this.entries.delete(key)) this.changed();
    return value;
  }

  delete(key: string): Promise<void> {
    if (this.entries.delete(key)) this.changed();
    return Promise.resolve();
  }

  /** Writes what is not written yet and waits for it: at shutdown, and in tests. A failing write is tried once more. */
  async flush(): Promise<void> {
    let failures = 0;
    for (;;) {
      this.cancelTimer();
      if (this.writing) {
        if (!(await this.writing)) failures++;
        continue;
      }
      if (!this.dirty || failures > 1) return;
      if (!(await this.writeOnce())) failures++;
    }
  }

  private put(key: string, entry: Entry): void {
    this.entries.set(key, entry);
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  private changed(): void {
    this.dirty = true;
    if (!this.writing) this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.writeOnce();
    }, SNAPSHOT_DELAY_MS);
    this.timer.unref();
  }

  private cancelTimer(): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * One snapshot of what is in memory now, never two at once (the one in flight is joined); whether it was written.
   * A failed write leaves the store dirty: the next change, or `flush`, tries again.
   */
  private writeOnce(): Promise<boolean> {
    if (this.writing) return this.writing;
    this.dirty = false;
    const snapshot: SnapshotFile = { version: FORMAT_VERSION, entries: [] };
    for (const [key, { value, expiresAt }] of this.entries) {
      if (expiresAt === null || expiresAt > this.now) snapshot.entries.push([key, value, expiresAt]);
    }
    this.writing = mkdir(dirname(this.path), { recursive: true, mode: 0o700 })
      .then(() => writeFileAtomically(this.path, JSON.stringify(snapshot)))
      .then(
        () => true,
        (error: unknown) => {
          this.dirty = true;
          this.logger.warn(`could not save ${this.path}: ${(error as Error).message}`);
          return false;
        },
      )
      .then((written) => {
        this.writing = null;
        // Changes made while this one was written go in the next snapshot, a delay later.
        if (written && this.dirty) this.schedule();
        return written;
      });
    return this.writing;
  }

  private load(): void {
    let text: string;
    try {
      this.removeTempLeftovers();
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      // ENOTDIR: a file stands where a folder of the path should be, so no snapshot can be there to lose. Above the
      // snapshots' own folder (DATA_DIR itself) the data folder's check names the problem; the folder itself only
      // this store sees, and no snapshot could be written there.
      const { code } = error as NodeJS.ErrnoException;
      if (code === 'ENOENT') return;
      if (code === 'ENOTDIR') {
        if (!isFile(dirname(this.path))) return;
        throw new StartProblem(
          `${dirname(this.path)} is where FlowGPT keeps its saved state (sessions, throttles), but a file is in the way: ` +
            'move that file away',
        );
      }
      throw this.outOfReach(error);
    }
    try {
      const file = JSON.parse(text) as SnapshotFile;
      if (file?.version !== FORMAT_VERSION || !Array.isArray(file.entries)) throw new Error('not a snapshot of this version');
      for (const item of file.entries) {
        if (!Array.isArray(item) || typeof item[0] !== 'string' || typeof item[1] !== 'string') continue;
        const expiresAt = typeof item[2] === 'number' ? item[2] : null;
        this.put(item[0], { value: item[1], expiresAt });
      }
    } catch (error) {
      const aside = `${this.path}.unreadable`;
      this.entries.clear();
      try {
        renameSync(this.path, aside);
      } catch (renameError) {
        throw this.outOfReach(renameError);
      }
      this.logger.warn(`${this.path} could not be read (${(error as Error).message}); moved to ${aside}, starting empty`);
    }
  }

  /**
   * A snapshot that is there but cannot be read (a file of another user, a disk error) or set aside: starting empty
   * would write the next snapshot over it and lose what it holds, so the start stops with one line naming it.
   */
  private outOfReach(error: unknown): StartProblem {
    const { code, message } = error as NodeJS.ErrnoException;
    return new StartProblem(
      `${this.path} cannot be read or set aside (${code ? message : String(error)}); refusing to start and write over it: fix its ` +
        'permissions (the user that runs FlowGPT must be able to read and write it), or move it away to start without what it holds',
    );
  }

  /** Temp files of a snapshot that never reached its rename (a crash mid-write): the snapshot itself is whole. */
  private removeTempLeftovers(): void {
    const own = basename(this.path);
    for (const name of readdirSync(dirname(this.path))) {
      if (isTempOf(name, own)) rmSync(join(dirname(this.path), name), { force: true });
    }
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
