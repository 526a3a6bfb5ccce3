import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { KeyValueStore } from '../common/shared-state/key-value.store';
import { SharedState } from '../common/shared-state/shared-state';
import { Clock } from '../common/vocabulary/clock';
import { AppConfig } from '../config/app-config';
import { ResponseFiles } from './response-files';
import type { InputItem } from './input-items';
import type { Continuation } from './response-input';
import type { ResponseObject } from './response-shapes';

export interface StoredResponse {
  /** Whose response it is: a digest of the API key that created it. */
  owner: string;
  response: ResponseObject;
  /** The upstream conversation and the message to continue from (absent when the answer never finished). */
  continuation?: Continuation;
  /** The request's input items, for `GET /v1/responses/{id}/input_items` (absent in records stored before they were kept). */
  input?: InputItem[];
  /** The instance running a response stored `in_progress` (`ResponseStore.instanceId`), set as it is saved. */
  runner?: string;
}

/** Stored responses are whole answers; the total is capped so a run of long ones cannot exhaust memory. */
const MAX_TOTAL_CHARS = 64 * 1024 * 1024;

/**
 * With Redis, how long an instance counts as running after its last heartbeat, and how often it beats: a response an
 * instance left `in_progress` is settled as failed once the instance has been silent this long (it died, or lost Redis).
 */
const RUNNER_LEASE_MS = 30_000;
const RUNNER_BEAT_MS = 10_000;

/** What a response left `in_progress` by a process that is gone says, as OpenAI reports a response that failed. */
const ABANDONED_ERROR = {
  code: 'server_error',
  message: 'The server running this response stopped before it finished; the response is incomplete. Create it again.',
} as const;

/**
 * Responses created with `store: true`, for `GET /v1/responses/{id}` and `previous_response_id`, kept for
 * `RESPONSES_STORE_TTL_SEC`.
 * - Without Redis, in files under `DATA_DIR/responses/`, also bounded by count (`RESPONSES_STORE_MAX`) and total
 *   size, least recently used first out; they outlive a restart.
 * - With `REDIS_URL`, in Redis: every instance behind a load balancer finds them, and they outlive a restart. Redis
 *   bounds them by age only (its own `maxmemory` policy is the operator's).
 * - With neither a data folder nor Redis (unit tests), in this process's memory, bounded as the files are.
 * A response stored `in_progress` names the instance running it. One whose instance is gone (without Redis: any earlier
 * process, since the files have one owner at a time; with Redis: an instance whose heartbeat has lapsed) is settled as
 * `failed` when it is read, so that it does not stay in progress until it expires.
 */
@Injectable()
export class ResponseStore implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(ResponseStore.name);
  /** This process, as the runner of the responses it stores in progress. */
  readonly instanceId = randomUUID();
  /** With Redis, the instances alive: each refreshes its own key, which lapses `RUNNER_LEASE_MS` after it stops. */
  private readonly runners?: KeyValueStore;
  private heartbeat?: NodeJS.Timeout;
  private readonly memory?: LRUCache<string, StoredResponse>;
  private readonly files?: ResponseFiles;
  private readonly shared?: KeyValueStore;
  /**
   * Without Redis, the ids deleted (by their owner) within the time to live: a stream's outcome replaces its in-progress
   * record unless it was deleted, also when the caps or the age dropped that record while the stream ran.
   */
  private readonly deleted?: LRUCache<string, true>;
  private readonly ttlMs: number;

  constructor(
    config: AppConfig,
    shared: SharedState,
    private readonly clock: Clock,
  ) {
    this.ttlMs = config.responsesStoreTtlSec * 1000;
    if (shared.connection) {
      this.shared = shared.keyValues('response');
      this.runners = shared.keyValues('response-runner');
    } else if (config.dataDir)
      this.files = new ResponseFiles(
        join(config.dataDir, 'responses'),
        { maxCount: config.responsesStoreMax, maxBytes: MAX_TOTAL_CHARS, ttlMs: this.ttlMs },
        clock,
      );
    else
      this.memory = new LRUCache<string, StoredResponse>({
        max: config.responsesStoreMax,
        ttl: this.ttlMs,
        // Ages on the app's clock, like everything else that expires.
        perf: { now: () => this.clock.now() },
        ttlResolution: 0,
        maxSize: MAX_TOTAL_CHARS,
        sizeCalculation: (stored) => Math.max(1, JSON.stringify(stored).length),
      });
    if (!this.shared)
      this.deleted = new LRUCache<string, true>({
        max: config.responsesStoreMax,
        ttl: this.ttlMs,
        perf: { now: () => this.clock.now() },
        ttlResolution: 0,
      });
  }

  async onModuleInit(): Promise<void> {
    await this.files?.open();
    if (!this.runners) return;
    // Not awaited: Redis away at start must not hold the start up (the beat says so in the log, and retries).
    void this.beat();
    this.heartbeat = setInterval(() => void this.beat(), RUNNER_BEAT_MS);
    this.heartbeat.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.files?.settled();
    clearInterval(this.heartbeat);
  }

  /** Tells the other instances that this one is still running its responses. */
  async beat(): Promise<void> {
    try {
      await this.runners!.set(this.instanceId, '1', this.clock.now(), RUNNER_LEASE_MS);
    } catch (error) {
      this.logger.warn(`heartbeat of instance ${this.instanceId} not stored: ${(error as Error).message}`);
    }
  }

  /** Saves a response; one `in_progress` is marked as run by this instance. */
  async save(stored: StoredResponse): Promise<void> {
    stored = withRunner(stored, this.instanceId);
    if (this.memory) this.memory.set(stored.response.id, structuredClone(stored));
    else if (this.files) await this.files.save(stored);
    else await this.shared!.set(stored.response.id, JSON.stringify(stored), this.clock.now(), this.ttlMs);
  }

  /**
   * Replaces a response saved earlier (a stream's outcome over its in-progress record) unless it was deleted meanwhile:
   * one deleted, on any instance, stays deleted. Without Redis a record the caps or the age dropped while the stream ran
   * is written again, as a new response would be; in Redis only a key still there is replaced. Whether it wrote it.
   */
  async replace(stored: StoredResponse): Promise<boolean> {
    stored = withRunner(stored, this.instanceId);
    if (this.shared) return this.shared.setIfPresent(stored.response.id, JSON.stringify(stored), this.clock.now(), this.ttlMs);
    if (this.deleted!.has(stored.response.id)) return false;
    await this.save(stored);
    return true;
  }

  /** Forgets the response, only for the key that created it; whether there was one to forget. */
  async delete(id: string, owner: string): Promise<boolean> {
    if (!(await this.find(id, owner))) return false;
    // Marked before the removal is queued, so that an outcome replacing the record after it finds the mark.
    this.deleted?.set(id, true);
    if (this.memory) this.memory.delete(id);
    else if (this.files) await this.files.delete(id);
    else await this.shared!.delete(id);
    return true;
  }

  /**
   * The response, only for the key that created it: to any other key it does not exist. One left `in_progress` by an
   * instance that is gone is settled as failed first.
   */
  async find(id: string, owner: string): Promise<StoredResponse | undefined> {
    const { stored, text } = await this.read(id, owner);
    if (!stored || !(await this.abandoned(stored))) return stored;
    const settled = settledAsFailed(stored);
    this.logger.warn(`response ${id} was left in progress by instance ${stored.runner ?? 'unknown'}, which is gone: now failed`);
    // Written only over the record as it was read: one deleted meanwhile stays deleted, and in Redis an outcome its
    // instance wrote meanwhile (alive after all: its heartbeat had only lapsed) is kept and answered. A store that
    // refuses the write (a full disk, Redis at its memory limit) still has the outcome answered; the next read settles
    // it again.
    try {
      if (this.shared && !(await this.shared.replaceIf(id, text!, JSON.stringify(settled), this.clock.now(), this.ttlMs)))
        return (await this.read(id, owner)).stored;
      if (!this.shared) await this.replace(settled);
    } catch (error) {
      this.logger.warn(`response ${id} settled as failed but not stored so: ${(error as Error).message}`);
    }
    return settled;
  }

  /**
   * Whether the response is `in_progress` with no live instance running it. In Redis, a record that names no instance
   * was stored by an older version, which may still be running it (an instance not yet upgraded): it is left as it is.
   */
  private async abandoned(stored: StoredResponse): Promise<boolean> {
    if (stored.response.status !== 'in_progress') return false;
    if (stored.runner === this.instanceId) return false;
    if (!this.runners) return true;
    if (!stored.runner) return false;
    return (await this.runners.get(stored.runner, this.clock.now())) === null;
  }

  /** The owner's record, and in Redis the text it was read from. */
  private async read(id: string, owner: string): Promise<{ stored?: StoredResponse; text?: string }> {
    let stored: StoredResponse | undefined;
    let text: string | undefined;
    if (this.memory) stored = structuredClone(this.memory.get(id));
    else if (this.files) stored = await this.files.find(id);
    else {
      text = (await this.shared!.get(id, this.clock.now())) ?? undefined;
      stored = text === undefined ? undefined : (JSON.parse(text) as StoredResponse);
    }
    return stored && stored.owner === owner ? { stored, text } : {};
  }
}

function withRunner(stored: StoredResponse, instanceId: string): StoredResponse {
  const { runner: _runner, ...rest } = stored;
  return stored.response.status === 'in_progress' ? { ...rest, runner: instanceId } : rest;
}

/** The response as failed, its unfinished output items incomplete, as a stream that fails ends it. */
function settledAsFailed(stored: StoredResponse): StoredResponse {
  const output = stored.response.output.map((item) => (item.status === 'in_progress' ? { ...item, status: 'incomplete' as const } : item));
  const { runner: _runner, ...rest } = stored;
  return { ...rest, response: { ...stored.response, status: 'failed', error: { ...ABANDONED_ERROR }, output } };
}
