import { performance } from 'node:perf_hooks';
import { encode } from 'gpt-tokenizer/cjs/encoding/o200k_base';
import { MAX_RUN_CHARS, TokenCounter } from './token-counter';

const exact = (text: string) => encode(text, { disallowedSpecial: new Set() }).length;

const WORDS =
  'the quick brown fox jumps over a lazy dog while seven wizards quietly judge boxing matches, 42 times; naïve café — 東京 日本語'.split(
    ' ',
  );

/** Ordinary prose of about `chars` characters, with punctuation, digits, newlines and non-Latin words. */
function prose(chars: number): string {
  let out = '';
  for (let i = 0; out.length < chars; i++) out += WORDS[(i * 7) % WORDS.length] + (i % 13 === 12 ? '.\n\n' : ' ');
  return out;
}

/** The fastest of a few runs, in milliseconds: the least disturbed by other work on the machine. */
function fastest(run: () => void, times = 3): number {
  let best = Infinity;
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    run();
    best = Math.min(best, performance.now() - started);
  }
  return best;
}

describe('TokenCounter', () => {
  const counter = new TokenCounter();

  it.each([
    ['a sentence', 'Hello, world! How are you today?'],
    ['code', 'function add(a, b) {\n  return a + b;\n}\n\nconsole.log(add(1, 2));\n'],
    ['prose longer than one slice', prose(200_000)],
    ['words separated by runs of spaces', 'alpha     beta\t\t\tgamma\n\n\n\ndelta'],
  ])('counts %s exactly as the encoder does', (_name, text) => {
    expect(counter.count(text, 'o200k_base')).toBe(exact(text));
  });

  it('counts whole prompts the same way asynchronously', async () => {
    const text = prose(100_000);
    await expect(counter.countAsync(text, 'o200k_base')).resolves.toBe(exact(text));
  });

  it('stays within a token per cut of the exact count for a run longer than a piece', () => {
    const run = 'A'.repeat(MAX_RUN_CHARS * 8 + 17);
    const cuts = Math.ceil(run.length / MAX_RUN_CHARS);
    expect(Math.abs(counter.count(run, 'o200k_base') - exact(run))).toBeLessThanOrEqual(cuts);
  });

  it('counts an unbroken run of one character in time linear in its length', () => {
    const small = 'A'.repeat(512 * 1024);
    const large = 'A'.repeat(8 * 512 * 1024);
    counter.count('A'.repeat(4096), 'o200k_base');
    const smallMs = fastest(() => counter.count(small, 'o200k_base'));
    const largeMs = fastest(() => counter.count(large, 'o200k_base'));
    // Quadratic growth would make the 8× input cost about 64× as much.
    expect(largeMs).toBeLessThanOrEqual(12 * Math.max(smallMs, 1));
    expect(counter.count(large, 'o200k_base')).toBeGreaterThan(0);
  });

  it('counts runs of varied letters and of whitespace in linear time too', () => {
    // Pseudo-random letters, new ones for every run: no piece repeats, so the encoder's cache cannot hide the cost.
    let state = 12345;
    const letters = (n: number) =>
      Array.from({ length: n }, () => {
        state = (state * 1103515245 + 12345) % 2147483648;
        return String.fromCharCode(97 + (state % 26));
      }).join('');
    const timeFresh = (n: number) => {
      let best = Infinity;
      for (let i = 0; i < 3; i++) {
        const text = letters(n);
        best = Math.min(
          best,
          fastest(() => counter.count(text, 'cl100k_base'), 1),
        );
      }
      return best;
    };
    const smallMs = timeFresh(32 * 1024);
    const largeMs = timeFresh(8 * 32 * 1024);
    expect(largeMs).toBeLessThanOrEqual(12 * Math.max(smallMs, 1));

    const spaces = ' '.repeat(1024 * 1024);
    expect(counter.count(spaces, 'o200k_base')).toBeGreaterThan(0);
  });

  it('truncates a long run to a prefix that fits', () => {
    const run = 'Q'.repeat(1024 * 1024);
    const kept = counter.truncate(run, 10, 'o200k_base');
    expect(run.startsWith(kept)).toBe(true);
    expect(kept.length).toBeGreaterThan(0);
    expect(counter.count(kept, 'o200k_base')).toBeLessThanOrEqual(10);
    const sentence = prose(5_000);
    expect(counter.truncate(sentence, 1_000_000, 'o200k_base')).toBe(sentence);
    expect(exact(counter.truncate(sentence, 50, 'o200k_base'))).toBeLessThanOrEqual(50);
  });
});
