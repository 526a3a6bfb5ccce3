import { createHash, randomUUID } from 'node:crypto';

/**
 * The fake upstream's own proof-of-work checker (upstream-protocol.md §4), written independently of
 * src/pow so that a bug there cannot hide behind the same bug here.
 */

/** How many elements the browser-imitating config array has. */
export const CONFIG_LENGTH = 18;
const COUNTER_INDEX = 3;
const HALF_COUNTER_INDEX = 9;

/** The config array encoded in an answer, or null when the answer is not base64 of an 18-element JSON array. */
export function decodeProofConfig(answer: string): unknown[] | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(answer) || answer.length % 4 !== 0) return null;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(answer, 'base64').toString('utf8'));
    return Array.isArray(parsed) && parsed.length === CONFIG_LENGTH ? parsed : null;
  } catch {
    return null;
  }
}

/** True when the digest of `seed + answer` sorts strictly below the target taken from the difficulty hex. */
export function digestBeatsDifficulty(seed: string, difficulty: string, answer: string): boolean {
  if (!/^([0-9a-fA-F]{2})+$/.test(difficulty)) return false;
  const target = Buffer.from(difficulty, 'hex');
  const digest = createHash('sha3-512')
    .update(seed + answer, 'utf8')
    .digest();
  return Buffer.compare(digest.subarray(0, target.length), target) < 0;
}

/** What the fake upstream insists on for `openai-sentinel-proof-token`: a real config and a digest under the target. */
export function checkPowAnswer(seed: string, difficulty: string, answer: string): boolean {
  return decodeProofConfig(answer) !== null && digestBeatsDifficulty(seed, difficulty, answer);
}

/** A plausible config array, for tests that need to solve a proof themselves. */
export function sampleConfig(): unknown[] {
  const timer = 1234.5;
  return [
    1920,
    'Mon Nov 24 2026 10:00:00 GMT-0500 (Eastern Standard Time)',
    4294705152,
    0,
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    '',
    '',
    'en-US',
    'en-US,es-US,en,es',
    0,
    'vendor\u2212Google Inc.',
    'location',
    'window',
    timer,
    randomUUID(),
    '',
    8,
    Date.now() - timer,
  ];
}

/**
 * A plain sequential search, as the reference does it: only indices 3 and 9 change between attempts.
 * Returns the base64 answer (without prefix) or null after `limit` attempts.
 */
export function bruteForcePow(seed: string, difficulty: string, config: unknown[] = sampleConfig(), limit = 500_000): string | null {
  const attempt = [...config];
  for (let i = 0; i < limit; i++) {
    attempt[COUNTER_INDEX] = i;
    attempt[HALF_COUNTER_INDEX] = i >> 1;
    const answer = Buffer.from(JSON.stringify(attempt), 'utf8').toString('base64');
    if (digestBeatsDifficulty(seed, difficulty, answer)) return answer;
  }
  return null;
}

/** A `gAAAAAC…` requirements token for chat-requirements (random seed, difficulty 0fffff). */
export function makeRequirementsToken(): string {
  const answer = bruteForcePow(String(Math.random()), '0fffff');
  if (answer === null) throw new Error('could not solve the requirements proof');
  return `gAAAAAC${answer}`;
}
