/**
 * Checks a "linear time" claim without a wall-clock limit: the time for `factor`× the input is compared with the
 * time for 1× measured in the same test, so a slow or busy machine slows both alike. Each size runs `runs` times,
 * interleaved, and the fastest run of each counts (noise only ever adds time). Quadratic work grows by `factor`²,
 * linear work by about `factor`.
 */
export function growthRatio(work: (size: number) => void, baseSize: number, options: { factor?: number; runs?: number } = {}): number {
  const factor = options.factor ?? 8;
  const runs = options.runs ?? 5;
  work(baseSize); // warm-up: compile the hot paths before anything is measured
  let small = Infinity;
  let large = Infinity;
  for (let run = 0; run < runs; run += 1) {
    small = Math.min(small, timed(() => work(baseSize)));
    large = Math.min(large, timed(() => work(baseSize * factor)));
  }
  return large / Math.max(small, 1e-3);
}

function timed(work: () => void): number {
  const started = process.hrtime.bigint();
  work();
  return Number(process.hrtime.bigint() - started) / 1e6;
}
