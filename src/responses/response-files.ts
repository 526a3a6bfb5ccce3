import { Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { mkdir, readdir, readFile, rm, stat, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { unusableDir } from '../common/startup/unusable-dir';
import { writeFileAtomically } from '../common/util/atomic-file';
import type { Clock } from '../common/vocabulary/clock';
import type { StoredResponse } from './response.store';

/** Ids shaped like the server's (`resp_` and hex): anything else a client sends names no file. */
const FILE_ID = /^resp_[A-Za-z0-9]{1,128}$/;
const SUFFIX = '.json';

interface Kept {
  bytes: number;
  /** Set only when the file could not be written: the response then lives in this process's memory. */
  unsaved?: StoredResponse;
}

export interface ResponseFileLimits {
  maxCount: number;
  maxBytes: number;
  ttlMs: number;
}

/**
 * Stored responses of a single instance, one file each under `DATA_DIR/responses/` (mode 0600, written atomically),
 * so that `previous_response_id` and `GET /v1/responses/{id}` work across a restart. Memory holds only an index
 * (size and age per id); the index bounds the files by count, total size and age, least recently used out, and a
 * file's modification time is when it was saved, so the index is rebuilt at start without reading them. Operations
 * on one id run one after another, so a delete or an eviction never races the write it follows.
 */
export class ResponseFiles {
  private readonly logger = new Logger(ResponseFiles.name);
  private readonly index: LRUCache<string, Kept>;
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly dir: string,
    private readonly limits: ResponseFileLimits,
    private readonly clock: Clock,
  ) {
    this.index = new LRUCache<string, Kept>({
      max: limits.maxCount,
      ttl: limits.ttlMs,
      perf: { now: () => this.clock.now() },
      ttlResolution: 0,
      maxSize: limits.maxBytes,
      sizeCalculation: (kept) => Math.max(1, kept.bytes),
      dispose: (_kept, id, reason) => {
        if (reason === 'evict' || reason === 'expire') void this.queue(id, () => this.removeFile(id));
      },
    });
  }

  /**
   * Rebuilds the index from the folder: leftovers of interrupted writes and expired files go. A folder this user may
   * not read or write stops the start with one line, as `DATA_DIR` itself does.
   */
  async open(): Promise<void> {
    let names: string[];
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      names = await readdir(this.dir);
    } catch (error) {
      throw unusableDir(dirname(this.dir), error);
    }
    const found: { id: string; savedAt: number; bytes: number }[] = [];
    for (const name of names) {
      const path = join(this.dir, name);
      if (name.endsWith('.tmp')) {
        await rm(path, { force: true });
        continue;
      }
      const id = name.endsWith(SUFFIX) ? name.slice(0, -SUFFIX.length) : '';
      if (!FILE_ID.test(id)) continue;
      const facts = await stat(path).catch(() => null);
      if (!facts?.isFile()) continue;
      if (facts.mtimeMs + this.limits.ttlMs <= this.clock.now()) await rm(path, { force: true });
      else found.push({ id, savedAt: facts.mtimeMs, bytes: facts.size });
    }
    // Oldest first, so that the newest end up the most recently used and the caps drop the oldest.
    found.sort((a, b) => a.savedAt - b.savedAt);
    for (const { id, savedAt, bytes } of found) this.index.set(id, { bytes }, { start: savedAt });
    await this.settled();
    if (found.length) this.logger.log(`${this.index.size} stored responses in ${this.dir}`);
  }

  save(stored: StoredResponse): Promise<void> {
    const id = stored.response.id;
    if (!FILE_ID.test(id)) throw new Error(`not a response id: ${id}`);
    return this.queue(id, () => this.write(stored));
  }

  find(id: string): Promise<StoredResponse | undefined> {
    if (!FILE_ID.test(id)) return Promise.resolve(undefined);
    return this.queue(id, async () => {
      const kept = this.index.get(id);
      if (!kept) return undefined;
      if (kept.unsaved) return structuredClone(kept.unsaved);
      try {
        return JSON.parse(await readFile(this.pathOf(id), 'utf8')) as StoredResponse;
      } catch (error) {
        this.logger.warn(`stored response ${id} could not be read: ${(error as Error).message}`);
        this.index.delete(id);
        return undefined;
      }
    });
  }

  delete(id: string): Promise<void> {
    if (!FILE_ID.test(id)) return Promise.resolve();
    return this.queue(id, async () => {
      this.index.delete(id);
      await this.removeFile(id);
    });
  }

  private async write(stored: StoredResponse): Promise<void> {
    const id = stored.response.id;
    const text = JSON.stringify(stored);
    const bytes = Buffer.byteLength(text);
    try {
      const path = this.pathOf(id);
      await writeFileAtomically(path, text);
      const now = this.clock.now() / 1000;
      await utimes(path, now, now);
      this.index.set(id, { bytes });
      // Larger than the whole allowance: kept nowhere, as in memory.
      if (!this.index.has(id)) await this.removeFile(id);
    } catch (error) {
      this.logger.warn(`response ${id} kept in memory only: ${(error as Error).message}`);
      this.index.set(id, { bytes, unsaved: structuredClone(stored) });
    }
    this.index.purgeStale();
  }

  /** Waits for every write and removal under way: at shutdown, so that the last answers are on disk. */
  async settled(): Promise<void> {
    while (this.queues.size) await Promise.allSettled([...this.queues.values()]);
  }

  private pathOf(id: string): string {
    return join(this.dir, `${id}${SUFFIX}`);
  }

  private async removeFile(id: string): Promise<void> {
    await rm(this.pathOf(id), { force: true }).catch((error: unknown) =>
      this.logger.warn(`stored response ${id} could not be removed: ${(error as Error).message}`),
    );
  }

  /** Runs `work` after whatever is under way for `id`. */
  private queue<T>(id: string, work: () => Promise<T>): Promise<T> {
    const before = this.queues.get(id) ?? Promise.resolve();
    const result = before.then(work, work);
    const tail = result.catch(() => undefined);
    this.queues.set(id, tail);
    void tail.then(() => {
      if (this.queues.get(id) === tail) this.queues.delete(id);
    });
    return result;
  }
}
