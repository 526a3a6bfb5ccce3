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
  // The process's CPU time counts its background threads too (the collector finishing a sweep, the compiler): a
  // few milliseconds that would weigh on a sub-millisecond run. Each measured run repeats the work until the small
  // size costs at least MIN_MEASURED_MS.
  let repeats = 1;
  while (repeats < MAX_REPEATS && timed(() => repeated(work, baseSize, repeats)) < MIN_MEASURED_MS) repeats *= 2;
  // And the small size runs `factor` times as often as the large one, so that both runs last about as long (for
  // linear work): a core shared with other processes slows whatever runs on it, and a short run could slip through
  // between two slow spells that a long one would sit in.
  work(baseSize * factor); // the large size warmed too: its first run may take paths the small one never did
  let small = Infinity;
  let large = Infinity;
  for (let run = 0; run < runs; run += 1) {
    small = Math.min(
      small,
      timed(() => repeated(work, baseSize, repeats * factor)),
    );
    large = Math.min(
      large,
      timed(() => repeated(work, baseSize * factor, repeats)),
    );
  }
  return (factor * large) / Math.max(small, 1e-3);
}

const MIN_MEASURED_MS = 10;
const MAX_REPEATS = 1024;

function repeated(work: (size: number) => void, size: number, times: number): void {
  for (let time = 0; time < times; time += 1) work(size);
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

/**
 * CPU milliseconds (user + system) that `work` took, from a collected heap. Collected twice: the second collection
 * first finishes the sweeping the first one left to background threads, and leaves little of its own.
 */
function timed(work: () => void): number {
  collectGarbage();
  collectGarbage();
  const used = process.cpuUsage();
  work();
  const { user, system } = process.cpuUsage(used);
  return (user + system) / 1000;
}
