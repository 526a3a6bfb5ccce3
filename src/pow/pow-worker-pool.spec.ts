import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { buildBrowserConfig, powFallbackAnswer, solvePow, verifyPowAnswer } from './pow-solver';
import { PowWorkerPool } from './pow-worker-pool';

interface PowVector {
  seed: string;
  difficulty: string;
  config: unknown[];
  solved: boolean;
}

const vectorsFile = join(__dirname, 'testdata/pow-vectors.json');
const { vectors } = JSON.parse(readFileSync(vectorsFile, 'utf8')) as { vectors: PowVector[] };
const config = vectors[0].config;
const hardest = vectors.find((v) => v.difficulty === '000032')!;

/** The pool's live worker threads, for the tests that need to kill or count them. */
function threadsOf(pool: PowWorkerPool): Worker[] {
  return (pool as unknown as { workers: { worker: Worker }[] }).workers.map((entry) => entry.worker);
}

describe('PowWorkerPool', () => {
  jest.setTimeout(30_000);
  let pool: PowWorkerPool;

  beforeAll(() => {
    pool = new PowWorkerPool({ size: 2 });
  });

  afterAll(async () => {
    await pool.onModuleDestroy();
  });

  it('finds an answer that verifies', async () => {
    const result = await pool.solve('0.77', '00ffff', config);
    expect(result.solved).toBe(true);
    expect(verifyPowAnswer('0.77', '00ffff', result.answer)).toBe(true);
  });

  it('solves the 000032 vector seed', async () => {
    const result = await pool.solve(hardest.seed, hardest.difficulty, hardest.config);
    expect(result.solved).toBe(true);
    expect(verifyPowAnswer(hardest.seed, hardest.difficulty, result.answer)).toBe(true);
  });

  it('answers 20 concurrent solves, each with a valid answer', async () => {
    const seeds = Array.from({ length: 20 }, (_, k) => `0.${k}${k}1`);
    const configs = seeds.map(() => buildBrowserConfig({ userAgent: 'UA' }));
    const results = await Promise.all(seeds.map((seed, k) => pool.solve(seed, '00ffff', configs[k])));
    results.forEach((result, k) => {
      expect(result.solved).toBe(true);
      expect(verifyPowAnswer(seeds[k], '00ffff', result.answer)).toBe(true);
    });
  });

  it('returns the fallback answer when the whole range is exhausted', async () => {
    const result = await pool.solve('0.5', '000000', config);
    expect(result).toEqual({ answer: powFallbackAnswer('0.5'), solved: false, iterations: 500_000 });
  });

  it('rejects at once on abort (before the event loop turns) and keeps serving', async () => {
    const controller = new AbortController();
    const pending = pool.solve('0.5', '000000', config, controller.signal);
    const outcome = pending.then(
      () => 'solved',
      (error: Error) => `rejected: ${error.message}`,
    );
    // Let the workers start hashing, then abort: the rejection must not wait for the slices in flight.
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort(new Error('client went away'));
    const first = await Promise.race([outcome, new Promise((resolve) => setImmediate(() => resolve('still pending after a loop turn')))]);
    expect(first).toBe('rejected: client went away');
    await expect(pool.solve('0.1', '0fffff', config, AbortSignal.abort())).rejects.toBeDefined();
    const next = await pool.solve('0.78', '00ffff', config);
    expect(verifyPowAnswer('0.78', '00ffff', next.answer)).toBe(true);
  });

  it('hashes on the workers: the main thread keeps turning its timers while a hard solve is in flight', async () => {
    let ticks = 0;
    let solving = true;
    const tick = () => {
      ticks += 1;
      if (solving) setTimeout(tick, 1);
    };
    setTimeout(tick, 1);
    // A 500,000-attempt solve: had it run on this thread, no timer could fire before it ends.
    const result = await pool.solve('0.5', '000000', config);
    solving = false;
    expect(result.solved).toBe(false);
    expect(ticks).toBeGreaterThanOrEqual(10);
  });

  it('rejects the solve of a crashed worker and replaces the worker', async () => {
    const pending = pool.solve('0.5', '000000', config);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await threadsOf(pool)[0].terminate();
    await expect(pending).rejects.toThrow(/worker crashed/);
    const next = await pool.solve('0.79', '00ffff', config);
    expect(verifyPowAnswer('0.79', '00ffff', next.answer)).toBe(true);
    expect(threadsOf(pool).length).toBeLessThanOrEqual(2);
  });

  it('terminates its workers on destroy and refuses later solves', async () => {
    const own = new PowWorkerPool({ size: 2 });
    // Hard enough for the workers (an easy one is solved inline).
    await own.solve('0.11', '000fff', config);
    const threads = threadsOf(own);
    expect(threads.length).toBeGreaterThan(0);
    const exits = threads.map((thread) => new Promise<number>((resolve) => thread.once('exit', resolve)));
    const refused = expect(own.solve('0.5', '000000', config)).rejects.toThrow(/shut down/);
    await own.onModuleDestroy();
    await refused;
    await Promise.all(exits);
    expect(threadsOf(own)).toHaveLength(0);
    await expect(own.solve('0.1', '0fffff', config)).rejects.toThrow(/shut down/);
  });

  it('solves an easy difficulty on the calling thread, without a worker round trip', async () => {
    const fresh = new PowWorkerPool({ size: 2 });
    try {
      const result = await fresh.solve('0.31', '0fffff', config);
      expect(verifyPowAnswer('0.31', '0fffff', result.answer)).toBe(true);
      expect(fresh.inlineSolves).toBe(1);
      expect(threadsOf(fresh)).toHaveLength(0);
    } finally {
      await fresh.onModuleDestroy();
    }
  });

  it('hands an easy search whose inline budget runs out to the workers', async () => {
    // A seed whose first answer at 00ffff (~256 attempts expected) lies past the inline budget of 4 × 256.
    let seed = '';
    for (let k = 0; !seed; k++) if (solvePow(`0.${k}`, '00ffff', config).iterations >= 1024) seed = `0.${k}`;
    const fresh = new PowWorkerPool({ size: 2 });
    try {
      const result = await fresh.solve(seed, '00ffff', config);
      expect(result.solved).toBe(true);
      expect(verifyPowAnswer(seed, '00ffff', result.answer)).toBe(true);
      expect(threadsOf(fresh).length).toBeGreaterThan(0);
    } finally {
      await fresh.onModuleDestroy();
    }
  });

  it('keeps hard difficulties off the calling thread', async () => {
    const fresh = new PowWorkerPool({ size: 1 });
    try {
      await fresh.solve(hardest.seed, '00003a', hardest.config);
      expect(fresh.inlineSolves).toBe(0);
    } finally {
      await fresh.onModuleDestroy();
    }
  });

  it('works with the default size', async () => {
    const own = new PowWorkerPool();
    try {
      expect(own.size).toBeGreaterThanOrEqual(1);
      expect(own.size).toBeLessThanOrEqual(4);
      const result = await own.solve('0.12', '0fffff', config);
      expect(verifyPowAnswer('0.12', '0fffff', result.answer)).toBe(true);
    } finally {
      await own.onModuleDestroy();
    }
  });
});
