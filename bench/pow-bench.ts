import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { solvePow } from '../src/pow/pow-solver';
import { PowWorkerPool } from '../src/pow/pow-worker-pool';

const DIFFICULTIES = ['0fffff', '00003a', '000032'];
/** Fixed seeds, so that runs and languages solve the same searches. */
const SEEDS = ['0.4160319883', '0.7391041873', '0.0522930261', '0.9134750192', '0.2718281828'];
const PARALLEL_SOLVES = 16;

export interface PowBench {
  workers: number;
  difficulties: {
    difficulty: string;
    seeds: number;
    solved: number;
    nodeSequentialMedianMs: number;
    poolMedianMs: number;
    pythonMedianMs?: number;
    /** The pool's median over the Python reference's (what FlowGPT spends vs the reference). */
    nodeToPython?: number;
    /** Node and Python found the same first answer for every seed (same algorithm, same counters). */
    sameIterations?: boolean;
  }[];
  eventLoop: { parallelSolves: number; difficulty: string; delayP50Ms: number; delayP99Ms: number; delayMaxMs: number };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const round = (value: number) => Math.round(value * 10) / 10;

/** A fixed config (the test vectors'), so that the searches are the same in every run and in both languages. */
function fixedConfig(): unknown[] {
  const file = join(__dirname, '..', 'src', 'pow', 'testdata', 'pow-vectors.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { vectors: { config: unknown[] }[] }).vectors[0].config;
}

/** The reference in Python's standard library over the same seeds; undefined without python3. */
function python(difficulty: string, seeds: string[], config: unknown[]): { ms: number; iterations: number }[] | undefined {
  const run = spawnSync('python3', [join(__dirname, 'pow_reference.py')], {
    input: JSON.stringify({ difficulty, seeds, config }),
    encoding: 'utf8',
  });
  if (run.status !== 0) return undefined;
  return run.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { ms: number; iterations: number });
}

export async function benchPow(quick = false): Promise<PowBench> {
  const config = fixedConfig();
  const seeds = quick ? SEEDS.slice(0, 2) : SEEDS;
  const pool = new PowWorkerPool();
  const out: PowBench = {
    workers: pool.size,
    difficulties: [],
    eventLoop: { parallelSolves: PARALLEL_SOLVES, difficulty: '000032', delayP50Ms: 0, delayP99Ms: 0, delayMaxMs: 0 },
  };
  try {
    await pool.solve('warm-up', '000fff', config);
    for (const difficulty of DIFFICULTIES) {
      const sequential: number[] = [];
      const pooled: number[] = [];
      const iterations: number[] = [];
      let solved = 0;
      for (const seed of seeds) {
        let started = performance.now();
        const result = solvePow(seed, difficulty, config);
        sequential.push(performance.now() - started);
        iterations.push(result.iterations);
        if (result.solved) solved++;
        started = performance.now();
        await pool.solve(seed, difficulty, config);
        pooled.push(performance.now() - started);
      }
      const reference = python(difficulty, seeds, config);
      const pythonMedianMs = reference ? round(median(reference.map((r) => r.ms))) : undefined;
      out.difficulties.push({
        difficulty,
        seeds: seeds.length,
        solved,
        nodeSequentialMedianMs: round(median(sequential)),
        poolMedianMs: round(median(pooled)),
        pythonMedianMs,
        nodeToPython: pythonMedianMs ? Math.round((median(pooled) / pythonMedianMs) * 1000) / 1000 : undefined,
        sameIterations: reference ? reference.every((r, k) => r.iterations === iterations[k]) : undefined,
      });
    }
    const histogram = monitorEventLoopDelay({ resolution: 5 });
    histogram.enable();
    await Promise.all(Array.from({ length: PARALLEL_SOLVES }, (_, k) => pool.solve(`0.${k}5550123`, '000032', config)));
    histogram.disable();
    out.eventLoop.delayP50Ms = round(histogram.percentile(50) / 1e6);
    out.eventLoop.delayP99Ms = round(histogram.percentile(99) / 1e6);
    out.eventLoop.delayMaxMs = round(histogram.max / 1e6);
  } finally {
    await pool.onModuleDestroy();
  }
  return out;
}

if (require.main === module) {
  benchPow(process.env.BENCH_QUICK === '1').then(
    (result) => console.log(JSON.stringify(result, null, 2)),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
