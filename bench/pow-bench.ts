import { performance } from 'node:perf_hooks';
import { buildBrowserConfig, solvePow } from '../src/pow/pow-solver';
import { PowWorkerPool } from '../src/pow/pow-worker-pool';

const USER_AGENT =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const DIFFICULTIES = ['0fffff', '00ffff', '000fff', '0003ff', '000032'];
const SEEDS_PER_DIFFICULTY = 5;
const SEQUENTIAL_ATTEMPTS = 100_000;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function sampleConfig(): unknown[] {
  return buildBrowserConfig({
    userAgent: USER_AGENT,
    scriptUrl: 'https://cdn.oaistatic.com/assets/app-abc123.js',
    dpl: 'prod-0123456789abcdef',
  });
}

/** Cost of one attempt on one thread: a search that cannot succeed, cut at a fixed count. */
function sequentialMicrosPerAttempt(): number {
  const config = sampleConfig();
  solvePow('warm-up', '000000', config, { start: 0, step: 1, limit: 5_000 });
  const started = performance.now();
  solvePow(String(Math.random()), '000000', config, { start: 0, step: 1, limit: SEQUENTIAL_ATTEMPTS });
  return ((performance.now() - started) * 1000) / SEQUENTIAL_ATTEMPTS;
}

/** Printable lines: single-thread µs per attempt, then the pool's median solve time per difficulty. */
export async function benchPow(): Promise<string[]> {
  const lines = [`pow: sequential solver ${sequentialMicrosPerAttempt().toFixed(2)} µs/attempt (1 thread)`];
  const pool = new PowWorkerPool();
  try {
    await pool.solve('warm-up', '0fffff', sampleConfig());
    for (const difficulty of DIFFICULTIES) {
      const times: number[] = [];
      let solved = 0;
      for (let k = 0; k < SEEDS_PER_DIFFICULTY; k++) {
        const started = performance.now();
        const result = await pool.solve(String(Math.random()), difficulty, sampleConfig());
        times.push(performance.now() - started);
        if (result.solved) solved++;
      }
      lines.push(
        `pow: ${difficulty} median ${median(times).toFixed(1)} ms over ${SEEDS_PER_DIFFICULTY} seeds ` +
          `(${solved} solved, pool of ${pool.size} workers)`,
      );
    }
  } finally {
    await pool.onModuleDestroy();
  }
  return lines;
}

if (require.main === module) {
  benchPow().then(
    (lines) => console.log(lines.join('\n')),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
