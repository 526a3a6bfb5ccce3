import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Checks a "linear time" claim without a wall-clock limit: the cost of `factor`× the input is compared with the
 * cost of 1× measured in the same test. Cost is the CPU time this process used (all its threads, GC included), not
 * the time on the wall: on a busy machine the wall time also counts the time spent waiting for a core, which can
 * hit one run and spare the next. Each size runs `runs` times, interleaved, and the cheapest run of each counts
 * (noise only ever adds). Quadratic work grows by `factor`², linear work by about `factor`.
 */
/** The most a linear piece of work may grow at the default factor: 3× its expected 16×, a fifth of quadratic's 256×. */
export const LINEAR_GROWTH_LIMIT = 48;

export function growthRatio(work: (size: number) => void, baseSize: number, options: { factor?: number; runs?: number } = {}): number {
  const factor = options.factor ?? 16;
  const runs = options.runs ?? 5;
  work(baseSize); // warm-up: compile the hot paths before anything is measured
  let small = Infinity;
  let large = Infinity;
  for (let run = 0; run < runs; run += 1) {
    small = Math.min(
      small,
      timed(() => work(baseSize)),
    );
    large = Math.min(
      large,
      timed(() => work(baseSize * factor)),
    );
  }
  return large / Math.max(small, 1e-3);
}

/**
 * V8's collector, reached without `--expose-gc` on the command line. A test file shares its Jest worker's heap with
 * the files run before it: a full collection of that heap landing in one measured run would bill that run for
 * garbage it did not make. Each run therefore starts from a collected heap.
 */
const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/** CPU milliseconds (user + system) that `work` took, from a collected heap. */
function timed(work: () => void): number {
  collectGarbage();
  const used = process.cpuUsage();
  work();
  const { user, system } = process.cpuUsage(used);
  return (user + system) / 1000;
}
