import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { expectedPowAttempts, POW_MAX_ITERATIONS, powFallbackAnswer, type PowResult, solvePow } from './pow-solver';
import type { PowTask, PowTaskReply } from './pow-worker';

export interface PowWorkerPoolOptions {
  /** Worker threads; defaults to the available parallelism, at most 4. */
  size?: number;
  /** Attempts one worker makes before the pool hands it the next slice (keeps concurrent solves fair). */
  sliceAttempts?: number;
}

const MAX_DEFAULT_SIZE = 4;
/**
 * A solve expected to take fewer attempts than this (`0fffff`: ~16, `00ffff`: ~256; a few µs each) runs on the
 * calling thread: a worker round trip costs more than the hashing. The inline search stops after
 * INLINE_BUDGET_FACTOR times the expectation (about 1 ms at most) and an unlucky seed goes on to the workers.
 */
export const INLINE_MAX_EXPECTED_ATTEMPTS = 1024;
const INLINE_BUDGET_FACTOR = 4;
// ~25 ms of work per slice at ~3 µs per attempt: short enough that a cheap solve
// queued behind a hard one waits little, long enough that messaging costs nothing.
const DEFAULT_SLICE_ATTEMPTS = 8192;

interface SolveJob {
  seed: string;
  difficulty: string;
  config: unknown[];
  stop: Int32Array;
  /** Next slice to hand out; slice t covers round ⌊t/size⌋, worker slot t mod size. */
  nextSlice: number;
  inFlight: number;
  settled: boolean;
  resolve(result: PowResult): void;
  reject(error: Error): void;
}

interface PoolWorker {
  worker: Worker;
  job?: SolveJob;
  taskId?: number;
  /** Set by the pool when it terminates the worker on purpose. */
  retiring: boolean;
  crash?: Error;
}

function isTypeScriptSource(): boolean {
  return __filename.endsWith('.ts');
}

/**
 * Under ts-node or Jest this file is the .ts source and Node cannot run the worker's .ts
 * by itself: the worker then registers ts-node (transpile only, CommonJS) before loading it.
 */
function startWorker(): Worker {
  if (!isTypeScriptSource()) return new Worker(join(__dirname, 'pow-worker.js'));
  const source = join(__dirname, 'pow-worker.ts');
  const bootstrap = [
    `require(${JSON.stringify(require.resolve('ts-node'))}).register({`,
    `  transpileOnly: true,`,
    `  compilerOptions: { module: 'commonjs', moduleResolution: 'node' },`,
    `});`,
    `require(${JSON.stringify(source)});`,
  ].join('\n');
  return new Worker(bootstrap, { eval: true });
}

/**
 * Runs proof-of-work solves on worker threads so the event loop never does the hashing.
 * Each solve is cut into slices spread over all workers (worker slot k of n tries the
 * counters k, k + n, …); slices of concurrent solves are handed out in turn. The first
 * solved slice wins and a shared flag stops the others within a millisecond or so.
 */
@Injectable()
export class PowWorkerPool implements OnModuleDestroy {
  readonly size: number;
  private readonly sliceAttempts: number;
  private readonly workers: PoolWorker[] = [];
  private readonly jobs: SolveJob[] = [];
  private nextJob = 0;
  private nextTaskId = 1;
  private destroyed = false;
  /** Solves (or their first part) done on the calling thread, for metrics and tests. */
  inlineSolves = 0;

  constructor(options: PowWorkerPoolOptions = {}) {
    this.size = Math.max(1, Math.floor(options.size ?? Math.min(availableParallelism(), MAX_DEFAULT_SIZE)));
    this.sliceAttempts = Math.max(1, Math.floor(options.sliceAttempts ?? DEFAULT_SLICE_ATTEMPTS));
  }

  solve(seed: string, difficulty: string, config: readonly unknown[], signal?: AbortSignal): Promise<PowResult> {
    if (this.destroyed) return Promise.reject(new Error('proof-of-work pool is shut down'));
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const inline = this.solveInline(seed, difficulty, config);
    if (inline instanceof Error) return Promise.reject(inline);
    if (inline?.solved) return Promise.resolve(inline);
    return new Promise<PowResult>((resolve, reject) => {
      const onAbort = () => this.settle(job, () => reject(abortReason(signal!)));
      const job: SolveJob = {
        seed,
        difficulty,
        config: [...config],
        stop: new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT)),
        nextSlice: 0,
        inFlight: 0,
        settled: false,
        resolve: (result) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(result);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.jobs.push(job);
      this.dispatch();
    });
  }

  /** The start of an easy search on this thread; undefined when the difficulty is not easy or the budget ran out. */
  private solveInline(seed: string, difficulty: string, config: readonly unknown[]): PowResult | Error | undefined {
    try {
      const expected = expectedPowAttempts(difficulty);
      if (expected >= INLINE_MAX_EXPECTED_ATTEMPTS) return undefined;
      const result = solvePow(seed, difficulty, config, { start: 0, step: 1, limit: Math.ceil(expected * INLINE_BUDGET_FACTOR) });
      this.inlineSolves++;
      return result;
    } catch (error) {
      return new Error(`proof-of-work failed: ${(error as Error).message}`);
    }
  }

  async onModuleDestroy(): Promise<void> {
    this.destroyed = true;
    for (const job of [...this.jobs]) {
      this.settle(job, () => job.reject(new Error('proof-of-work pool is shut down')));
    }
    const workers = this.workers.splice(0);
    await Promise.all(
      workers.map((entry) => {
        entry.retiring = true;
        return entry.worker.terminate();
      }),
    );
  }

  private get totalSlices(): number {
    return Math.ceil(POW_MAX_ITERATIONS / (this.sliceAttempts * this.size)) * this.size;
  }

  /** Ends a job once: stops its slices still running and drops it from the queue. */
  private settle(job: SolveJob, finish: () => void): void {
    if (job.settled) return;
    job.settled = true;
    Atomics.store(job.stop, 0, 1);
    const index = this.jobs.indexOf(job);
    if (index >= 0) {
      this.jobs.splice(index, 1);
      if (this.nextJob > index) this.nextJob--;
    }
    finish();
  }

  /** Hands the next slices, one job after another, to idle workers, starting workers as needed. */
  private dispatch(): void {
    if (this.destroyed) return;
    for (;;) {
      const job = this.nextJobWithSlices();
      if (!job) return;
      const entry = this.idleWorker();
      if (!entry) return;
      this.assign(entry, job);
    }
  }

  private nextJobWithSlices(): SolveJob | undefined {
    const total = this.totalSlices;
    for (let k = 0; k < this.jobs.length; k++) {
      const index = (this.nextJob + k) % this.jobs.length;
      if (this.jobs[index].nextSlice < total) {
        this.nextJob = index;
        return this.jobs[index];
      }
    }
    return undefined;
  }

  private idleWorker(): PoolWorker | undefined {
    const idle = this.workers.find((entry) => !entry.job);
    if (idle) return idle;
    if (this.workers.length >= this.size) return undefined;
    const entry: PoolWorker = { worker: startWorker(), retiring: false };
    entry.worker.on('message', (reply: PowTaskReply) => this.onReply(entry, reply));
    entry.worker.on('error', (error) => {
      entry.crash = error instanceof Error ? error : new Error(String(error));
    });
    entry.worker.on('exit', (code) => this.handleWorkerExit(entry, code));
    this.workers.push(entry);
    return entry;
  }

  private assign(entry: PoolWorker, job: SolveJob): void {
    const slice = job.nextSlice++;
    this.nextJob = (this.nextJob + 1) % Math.max(1, this.jobs.length);
    const roundSpan = this.sliceAttempts * this.size;
    const round = Math.floor(slice / this.size);
    const task: PowTask = {
      taskId: this.nextTaskId++,
      seed: job.seed,
      difficulty: job.difficulty,
      config: job.config,
      start: round * roundSpan + (slice % this.size),
      step: this.size,
      limit: Math.min((round + 1) * roundSpan, POW_MAX_ITERATIONS),
      stop: job.stop,
    };
    entry.job = job;
    entry.taskId = task.taskId;
    job.inFlight++;
    entry.worker.ref();
    entry.worker.postMessage(task);
  }

  private release(entry: PoolWorker): SolveJob | undefined {
    const job = entry.job;
    entry.job = undefined;
    entry.taskId = undefined;
    // An idle worker must not keep the process (or Jest) alive.
    entry.worker.unref();
    if (job) job.inFlight--;
    return job;
  }

  private onReply(entry: PoolWorker, reply: PowTaskReply): void {
    if (reply.taskId !== entry.taskId) return;
    const job = this.release(entry);
    if (job && !job.settled) {
      if (!reply.ok) {
        this.settle(job, () => job.reject(new Error(`proof-of-work failed: ${reply.message}`)));
      } else if (reply.result.solved) {
        this.settle(job, () => job.resolve(reply.result));
      } else if (job.nextSlice >= this.totalSlices && job.inFlight === 0) {
        const result = { answer: powFallbackAnswer(job.seed), solved: false, iterations: POW_MAX_ITERATIONS };
        this.settle(job, () => job.resolve(result));
      }
    }
    this.dispatch();
  }

  private handleWorkerExit(entry: PoolWorker, code: number): void {
    const index = this.workers.indexOf(entry);
    if (index >= 0) this.workers.splice(index, 1);
    const job = this.release(entry);
    if (entry.retiring) return;
    if (job && !job.settled) {
      const reason = entry.crash?.message ?? `exit code ${code}`;
      this.settle(job, () => job.reject(new Error(`proof-of-work worker crashed: ${reason}`)));
    }
    // A replacement starts on demand.
    this.dispatch();
  }
}

/** The signal's reason (an `AbortError` DOMException unless the caller gave one), as an Error. */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('proof-of-work solve aborted', { cause: reason });
}
