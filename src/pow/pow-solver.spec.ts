import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  browserTimeString,
  buildBrowserConfig,
  expectedPowAttempts,
  POW_MAX_ITERATIONS,
  powFallbackAnswer,
  requirementsToken,
  solvePow,
  verifyPowAnswer,
} from './pow-solver';

interface PowVector {
  seed: string;
  difficulty: string;
  config: unknown[];
  expected_answer: string;
  solved: boolean;
  iterations: number;
}

const vectorsFile = join(__dirname, 'testdata/pow-vectors.json');
const { vectors } = JSON.parse(readFileSync(vectorsFile, 'utf8')) as { vectors: PowVector[] };
const config = vectors[0].config;

describe('solvePow', () => {
  // The unsolvable vector runs all 500,000 attempts: seconds on a loaded machine.
  jest.setTimeout(30_000);

  it.each(vectors.map((v) => [v.difficulty, v.seed, v] as const))(
    'reproduces the reference at %s (seed %s)',
    (_difficulty, _seed, vector) => {
      const result = solvePow(vector.seed, vector.difficulty, vector.config);
      expect(result).toEqual({ answer: vector.expected_answer, solved: vector.solved, iterations: vector.iterations });
      if (vector.solved) expect(verifyPowAnswer(vector.seed, vector.difficulty, result.answer)).toBe(true);
    },
  );

  it('puts i and i >> 1 into the answer JSON', () => {
    const result = solvePow('0.42', '0fffff', config);
    const decoded = JSON.parse(Buffer.from(result.answer, 'base64').toString('utf8')) as unknown[];
    expect(decoded[3]).toBe(result.iterations);
    expect(decoded[9]).toBe(result.iterations >> 1);
    expect(decoded.slice(10)).toEqual(config.slice(10));
  });

  it('splits one search over strided ranges that each find a valid answer', () => {
    const hard = vectors.find((v) => v.difficulty === '000fff')!;
    const answers = [0, 1, 2].map((start) => solvePow(hard.seed, hard.difficulty, config, { start, step: 3 }));
    for (const [start, result] of answers.entries()) {
      expect(result.solved).toBe(true);
      expect(result.iterations % 3).toBe(start);
      expect(verifyPowAnswer(hard.seed, hard.difficulty, result.answer)).toBe(true);
    }
    // The stride holding the sequential answer finds that very answer.
    expect(answers[hard.iterations % 3]).toEqual({ answer: hard.expected_answer, solved: true, iterations: hard.iterations });
  });

  it('honours the range limit and shouldStop', () => {
    const limited = solvePow('0.5', '000000', config, { start: 0, step: 1, limit: 100 });
    expect(limited).toEqual({ answer: powFallbackAnswer('0.5'), solved: false, iterations: 100 });
    let checks = 0;
    const stopped = solvePow('0.5', '000000', config, { start: 0, step: 1, shouldStop: () => ++checks > 2 });
    expect(stopped.solved).toBe(false);
    expect(stopped.iterations).toBeLessThan(5000);
  });

  it('rejects a malformed difficulty', () => {
    expect(() => solvePow('0.1', '0ff', config)).toThrow(/difficulty/);
    expect(() => solvePow('0.1', 'zz', config)).toThrow(/difficulty/);
  });
});

describe('verifyPowAnswer', () => {
  const solved = vectors.find((v) => v.difficulty === '00ffff')!;

  it('accepts a valid answer and rejects others', () => {
    expect(verifyPowAnswer(solved.seed, solved.difficulty, solved.expected_answer)).toBe(true);
    expect(verifyPowAnswer('another seed', solved.difficulty, solved.expected_answer)).toBe(false);
    expect(verifyPowAnswer(solved.seed, '000000', solved.expected_answer)).toBe(false);
    expect(verifyPowAnswer(solved.seed, 'not hex', solved.expected_answer)).toBe(false);
  });

  it('treats an equal prefix as a failure (strictly lower)', () => {
    const digest = createHash('sha3-512')
      .update(solved.seed + solved.expected_answer)
      .digest('hex');
    expect(verifyPowAnswer(solved.seed, digest.slice(0, 6), solved.expected_answer)).toBe(false);
    expect(verifyPowAnswer(solved.seed, digest.slice(0, 4) + 'ff', solved.expected_answer)).toBe(digest.slice(4, 6) !== 'ff');
  });
});

describe('powFallbackAnswer', () => {
  it('is the fixed prefix and the base64 of the quoted seed', () => {
    expect(powFallbackAnswer('0.5')).toBe('wQ8Lk5FbGpA2NcR9dShT6gYjU7VxZ4D' + Buffer.from('"0.5"').toString('base64'));
    expect(powFallbackAnswer('0.5')).toBe(vectors.find((v) => !v.solved)!.expected_answer);
  });
});

describe('buildBrowserConfig', () => {
  const userAgent = 'Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0';

  it('builds the 18-element config of the spec', () => {
    const now = new Date('2026-11-25T09:05:03Z');
    const built = buildBrowserConfig({ userAgent, scriptUrl: 'https://cdn/app.js', dpl: 'prod-1', now });
    expect(built).toHaveLength(18);
    expect(built[0]).toEqual(expect.any(Number));
    expect(built[0] as number).toBeGreaterThanOrEqual(1080);
    expect(built[0] as number).toBeLessThanOrEqual(2520);
    expect(built[1]).toBe('Wed Nov 25 2026 04:05:03 GMT-0500 (Eastern Standard Time)');
    expect(built.slice(2, 10)).toEqual([4294705152, 0, userAgent, 'https://cdn/app.js', 'prod-1', 'en-US', 'en-US,es-US,en,es', 0]);
    expect(built[10]).toEqual(expect.stringContaining('\u2212'));
    expect(built[11]).toEqual(expect.any(String));
    expect(built[12]).toEqual(expect.any(String));
    expect(built[13]).toEqual(expect.any(Number));
    expect(built[14]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(built[15]).toBe('');
    expect([8, 16, 24, 32]).toContain(built[16]);
    expect(built[17] as number).toBeCloseTo(now.getTime() - (built[13] as number), 3);
  });

  it('defaults the script to an empty string and the dpl to null (no build id known)', () => {
    const built = buildBrowserConfig({ userAgent });
    expect(built[5]).toBe('');
    expect(built[6]).toBeNull();
    expect(buildBrowserConfig({ userAgent, dpl: null })[6]).toBeNull();
    expect(built[1]).toMatch(/^[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{4} \d{2}:\d{2}:\d{2} GMT-0500 \(Eastern Standard Time\)$/);
  });

  it('prints the time in GMT-0500 across a day boundary', () => {
    expect(browserTimeString(new Date('2027-01-01T02:30:00Z'))).toBe('Thu Dec 31 2026 21:30:00 GMT-0500 (Eastern Standard Time)');
  });
});

describe('requirementsToken', () => {
  it('is gAAAAAC followed by an answer at 0fffff over a browser config', () => {
    const token = requirementsToken('UA-test', { dpl: 'prod-x' });
    expect(token.startsWith('gAAAAAC')).toBe(true);
    const decoded = JSON.parse(Buffer.from(token.slice(7), 'base64').toString('utf8')) as unknown[];
    expect(decoded).toHaveLength(18);
    expect(decoded[4]).toBe('UA-test');
    expect(decoded[6]).toBe('prod-x');
    expect(decoded[3] as number).toBeLessThan(POW_MAX_ITERATIONS);
  });
});

describe('expectedPowAttempts', () => {
  it.each([
    ['0fffff', 16],
    ['00ffff', 256],
    ['00003a', 289_262],
    ['000032', 335_544],
  ])('%s: about %d attempts', (difficulty, attempts) => {
    expect(Math.round(expectedPowAttempts(difficulty))).toBe(attempts);
  });

  it('is infinite for a target no digest beats', () => {
    expect(expectedPowAttempts('000000')).toBe(Infinity);
  });
});
