// One file over 300 lines on purpose: the proof-of-work answer, its fallback and the config array are one algorithm
// checked against one set of vectors (pow-solver.spec.ts), and the worker threads load exactly this module.
import { createHash, hash, randomInt, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';

/** The reference gives up after this many attempts (upstream-protocol.md §4). */
export const POW_MAX_ITERATIONS = 500_000;
/** Difficulty of the requirements token sent to chat-requirements (§3). */
export const REQUIREMENTS_DIFFICULTY = '0fffff';

const FALLBACK_PREFIX = 'wQ8Lk5FbGpA2NcR9dShT6gYjU7VxZ4D';
const COUNTER_INDEX = 3;
const HALF_COUNTER_INDEX = 9;
/**
 * Attempts between two `shouldStop` checks: a check is a few nanoseconds against ~3 µs
 * per attempt, and a worker told to stop frees itself within a fraction of a millisecond.
 */
const STOP_CHECK_INTERVAL = 64;

export interface PowResult {
  /** The base64 answer (without the `gAAAAAB`/`gAAAAAC` prefix). */
  answer: string;
  solved: boolean;
  /**
   * The counter `i` of the winning attempt (what the test vectors call `iterations`);
   * when unsolved, the counter the search stopped at (the limit when exhausted).
   */
  iterations: number;
}

export interface PowRange {
  /** First counter tried. */
  start: number;
  /** Distance between two counters tried: worker k of n uses start k, step n. */
  step: number;
  /** Exclusive upper bound of the counter; defaults to {@link POW_MAX_ITERATIONS}. */
  limit?: number;
  /** Polled every 64 attempts; returning true ends the search unsolved. */
  shouldStop?: () => boolean;
}

export function powFallbackAnswer(seed: string): string {
  return FALLBACK_PREFIX + Buffer.from(`"${seed}"`, 'utf8').toString('base64');
}

function jsonItem(value: unknown): string {
  // Inside an array JSON.stringify writes undefined and functions as null.
  return JSON.stringify(value) ?? 'null';
}

function targetBytes(difficulty: string): Buffer {
  if (difficulty.length === 0 || difficulty.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(difficulty)) {
    throw new Error(`invalid proof-of-work difficulty "${difficulty}"`);
  }
  return Buffer.from(difficulty, 'hex');
}

/**
 * Attempts a search takes on average: a digest beats an N-byte target t with probability t / 256^N (`0fffff`: ~16,
 * `00003a`: ~290,000). Infinity for a target no digest beats.
 */
export function expectedPowAttempts(difficulty: string): number {
  const target = targetBytes(difficulty);
  // The first 6 bytes decide the probability to well within a double's precision.
  const head = target.subarray(0, 6);
  const value = head.readUIntBE(0, head.length);
  return value === 0 ? Infinity : 256 ** head.length / value;
}

/**
 * The reference compares digest[:len(hex)] with the shorter target, so an equal
 * prefix sorts higher: the digest must be strictly lower on the target's bytes.
 */
function beatsTarget(digest: Buffer, target: Buffer): boolean {
  for (let k = 0; k < target.length; k++) {
    if (digest[k] !== target[k]) return digest[k] < target[k];
  }
  return false;
}

function decimalLength(n: number): number {
  let len = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    len++;
  }
  return len;
}

function writeDecimal(buf: Buffer, at: number, len: number, n: number): void {
  for (let p = at + len - 1; p >= at; p--) {
    buf[p] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
}

const B64 = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 'latin1');
const PAD = 61; // '='

/** Base64-encodes the 3-byte groups [fromGroup, toGroup) of src[0, srcLen) into out, padding the last one. */
function encodeGroups(src: Buffer, srcLen: number, out: Buffer, fromGroup: number, toGroup: number): void {
  for (let g = fromGroup; g < toGroup; g++) {
    const s = g * 3;
    const o = g * 4;
    const b0 = src[s];
    const b1 = s + 1 < srcLen ? src[s + 1] : 0;
    const b2 = s + 2 < srcLen ? src[s + 2] : 0;
    out[o] = B64[b0 >> 2];
    out[o + 1] = B64[((b0 & 3) << 4) | (b1 >> 4)];
    out[o + 2] = s + 1 < srcLen ? B64[((b1 & 15) << 2) | (b2 >> 6)] : PAD;
    out[o + 3] = s + 2 < srcLen ? B64[b2 & 63] : PAD;
  }
}

/**
 * The per-solve state of the search. Only the two counters change between attempts,
 * so the JSON is kept as bytes with slots for them, `seed + base64(json)` lives in one
 * buffer, and each attempt re-encodes only the base64 groups that cover the counters.
 * The one-shot `hash()` is used because OpenSSL's per-call cost dominates: copying a
 * hash state that already absorbed `seed + base64(head)` measured slower.
 */
class PowSearch {
  private readonly head: Buffer;
  private readonly middle: Buffer;
  private readonly tail: Buffer;
  private readonly seed: Buffer;
  private readonly target: Buffer;
  private json = Buffer.alloc(0);
  private jsonLen = 0;
  /** `seed + base64(json)`; the base64 starts at `seed.length`. */
  private message = Buffer.alloc(0);
  private base64 = Buffer.alloc(0);
  private messageView = Buffer.alloc(0);
  private counterLen = -1;
  private halfLen = -1;
  private halfAt = 0;

  constructor(seed: string, difficulty: string, config: readonly unknown[]) {
    if (config.length <= HALF_COUNTER_INDEX) {
      throw new Error(`proof-of-work config needs at least ${HALF_COUNTER_INDEX + 1} elements`);
    }
    this.target = targetBytes(difficulty);
    this.seed = Buffer.from(seed, 'utf8');
    const items = config.map(jsonItem);
    this.head = Buffer.from(`[${items.slice(0, COUNTER_INDEX).join(',')},`, 'utf8');
    this.middle = Buffer.from(`,${items.slice(COUNTER_INDEX + 1, HALF_COUNTER_INDEX).join(',')},`, 'utf8');
    const rest = items.slice(HALF_COUNTER_INDEX + 1);
    this.tail = Buffer.from(`${rest.length > 0 ? ',' : ''}${rest.join(',')}]`, 'utf8');
  }

  /** Rebuilds the bytes when a counter gains a digit (a handful of times per solve). */
  private layout(counterLen: number, halfLen: number): void {
    this.counterLen = counterLen;
    this.halfLen = halfLen;
    this.jsonLen = this.head.length + counterLen + this.middle.length + halfLen + this.tail.length;
    if (this.json.length < this.jsonLen) {
      // Room for every counter length up to the limit, so this allocates once.
      this.json = Buffer.alloc(this.jsonLen + 16);
      this.message = Buffer.alloc(this.seed.length + Math.ceil(this.json.length / 3) * 4);
      this.seed.copy(this.message, 0);
      this.base64 = this.message.subarray(this.seed.length);
    }
    let at = this.head.copy(this.json, 0);
    this.json.fill(48, at, at + counterLen);
    at += counterLen;
    at += this.middle.copy(this.json, at);
    this.halfAt = at;
    this.json.fill(48, at, at + halfLen);
    at += halfLen;
    this.tail.copy(this.json, at);
    const groups = Math.ceil(this.jsonLen / 3);
    encodeGroups(this.json, this.jsonLen, this.base64, 0, groups);
    this.messageView = this.message.subarray(0, this.seed.length + groups * 4);
  }

  /** Tries counter i; returns the answer when its digest beats the target. */
  attempt(i: number): string | undefined {
    const half = i >> 1;
    const counterLen = decimalLength(i);
    const halfLen = decimalLength(half);
    if (counterLen !== this.counterLen || halfLen !== this.halfLen) this.layout(counterLen, halfLen);
    const counterAt = this.head.length;
    const halfAt = this.halfAt;
    writeDecimal(this.json, counterAt, counterLen, i);
    writeDecimal(this.json, halfAt, halfLen, half);
    const base64 = this.base64;
    encodeGroups(this.json, this.jsonLen, base64, (counterAt / 3) | 0, (((counterAt + counterLen - 1) / 3) | 0) + 1);
    encodeGroups(this.json, this.jsonLen, base64, (halfAt / 3) | 0, (((halfAt + halfLen - 1) / 3) | 0) + 1);
    const digest = hash('sha3-512', this.messageView, 'buffer');
    if (!beatsTarget(digest, this.target)) return undefined;
    return this.messageView.toString('latin1', this.seed.length);
  }
}

/**
 * The reference proof-of-work search (upstream-protocol.md §4). Without `range` it tries
 * i = 0..499,999 in order and reproduces the reference's answers exactly; with `range`
 * it tries only i = start, start + step, … below the limit, so that several workers can
 * share one solve.
 */
export function solvePow(seed: string, difficulty: string, config: readonly unknown[], range?: PowRange): PowResult {
  const search = new PowSearch(seed, difficulty, config);
  const start = range?.start ?? 0;
  const step = range?.step ?? 1;
  const limit = Math.min(range?.limit ?? POW_MAX_ITERATIONS, POW_MAX_ITERATIONS);
  const shouldStop = range?.shouldStop;
  if (!Number.isInteger(start) || start < 0 || !Number.isInteger(step) || step < 1) {
    throw new Error('proof-of-work range needs an integer start >= 0 and step >= 1');
  }
  let sinceCheck = 0;
  for (let i = start; i < limit; i += step) {
    if (shouldStop && ++sinceCheck >= STOP_CHECK_INTERVAL) {
      sinceCheck = 0;
      if (shouldStop()) return { answer: powFallbackAnswer(seed), solved: false, iterations: i };
    }
    const answer = search.attempt(i);
    if (answer !== undefined) return { answer, solved: true, iterations: i };
  }
  return { answer: powFallbackAnswer(seed), solved: false, iterations: limit };
}

/** Checks an answer the way the upstream does: its digest beats the difficulty. */
export function verifyPowAnswer(seed: string, difficulty: string, answer: string): boolean {
  let target: Buffer;
  try {
    target = targetBytes(difficulty);
  } catch {
    return false;
  }
  const digest = createHash('sha3-512')
    .update(Buffer.from(seed + answer, 'utf8'))
    .digest();
  return beatsTarget(digest, target);
}

export interface BrowserConfigOptions {
  userAgent: string;
  /** One script URL of the upstream home page (§3); `""` when none is known. */
  scriptUrl?: string;
  /** The upstream build id (§3.1); null (also when left out) when unknown, as the reference sends it. */
  dpl?: string | null;
  now?: Date;
}

// Small fixed samples of what the browser's sentinel code reports; one is picked per config.
const NAVIGATOR_KEYS = [
  'webdriver−false',
  'vendor−Google Inc.',
  'cookieEnabled−true',
  'pdfViewerEnabled−true',
  'hardwareConcurrency−8',
  'language−en-US',
  'onLine−true',
  'maxTouchPoints−0',
  'doNotTrack−unspecified',
  'registerProtocolHandler−function registerProtocolHandler() { [native code] }',
  'storage−[object StorageManager]',
  'mediaDevices−[object MediaDevices]',
];
const DOCUMENT_KEYS = ['location', '_reactListeningo743lnnpvdg'];
const WINDOW_KEYS = [
  'window',
  'self',
  'document',
  'location',
  'navigator',
  'performance',
  'localStorage',
  'sessionStorage',
  'onbeforeunload',
  'ontransitionend',
  '__NEXT_DATA__',
  '__next_f',
  'webpackChunk_N_E',
  '_N_E',
  'chrome',
];
const CORE_COUNTS = [8, 16, 24, 32];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const EST_OFFSET_MS = -5 * 3600 * 1000;

function pick<T>(choices: readonly T[]): T {
  return choices[randomInt(choices.length)];
}

const two = (n: number): string => String(n).padStart(2, '0');

/** `Wed Nov 25 2026 04:05:03 GMT-0500 (Eastern Standard Time)`, whatever the host's zone. */
export function browserTimeString(now: Date): string {
  const t = new Date(now.getTime() + EST_OFFSET_MS);
  const date = `${DAYS[t.getUTCDay()]} ${MONTHS[t.getUTCMonth()]} ${two(t.getUTCDate())} ${t.getUTCFullYear()}`;
  const time = `${two(t.getUTCHours())}:${two(t.getUTCMinutes())}:${two(t.getUTCSeconds())}`;
  return `${date} ${time} GMT-0500 (Eastern Standard Time)`;
}

/** The 18-element config of upstream-protocol.md §4; indices 3 and 9 are the solver's counters. */
export function buildBrowserConfig(opts: BrowserConfigOptions): unknown[] {
  const now = opts.now ?? new Date();
  const timerReading = performance.now() + Math.random();
  return [
    randomInt(1080, 2521),
    browserTimeString(now),
    4294705152,
    0,
    opts.userAgent,
    opts.scriptUrl ?? '',
    opts.dpl ?? null,
    'en-US',
    'en-US,es-US,en,es',
    0,
    pick(NAVIGATOR_KEYS),
    pick(DOCUMENT_KEYS),
    pick(WINDOW_KEYS),
    timerReading,
    randomUUID(),
    '',
    pick(CORE_COUNTS),
    now.getTime() - timerReading,
  ];
}

/** The `p` of chat-requirements (§3): `gAAAAAC` + an answer at `0fffff` for a random seed. */
export function requirementsToken(userAgent: string, opts: Omit<BrowserConfigOptions, 'userAgent'> = {}): string {
  return requirementsTokenOf(buildBrowserConfig({ ...opts, userAgent }));
}

/** The `p` of chat-requirements over a given config, which the attempt's conversation proof of work reuses (§3.2). */
export function requirementsTokenOf(config: readonly unknown[]): string {
  return 'gAAAAAC' + solvePow(String(Math.random()), REQUIREMENTS_DIFFICULTY, config).answer;
}
