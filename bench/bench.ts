/**
 * `npm run bench`: FlowGPT next to (a) the fake upstream called directly, (b) a bare pass-through proxy and (d) the
 * least a translating gateway must do (`translating-floor.js`), all in one run on this machine, plus CPU per answer,
 * many slow streams, start-up and proof of work. Prints a table and writes bench/results.json. Numbers, not assertions: compare medians and ratios from one run.
 *
 * BENCH_BASELINE_DIST=/path/to/other/dist also measures another build's CPU per short request in the same run
 * (the "before" of a change). BENCH_QUICK=1 runs a smaller load for a smoke test. BENCH_SERVER_LOG=1 shows
 * FlowGPT's own log (set LOG_LEVEL through it, e.g. `log`, for a line per request).
 */
import { ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { SENT_AT_PATTERN, type Scenario } from '../test/fake-upstream/scenarios';
import type { FakeCommand, FakeName, FakeUrls } from './fake-server';
import { benchPow, type PowBench } from './pow-bench';

export const ROOT = join(__dirname, '..');
const QUICK = process.env.BENCH_QUICK === '1';
export const ANSWER =
  'FlowGPT benchmark answer with a few dozen words in it, streamed in small pieces like a real model would stream them to the client.';
const LEVELS = [1, 16, 64, 256];
const REQUESTS_AT: Record<number, number> = QUICK ? { 1: 40, 16: 160, 64: 256, 256: 512 } : { 1: 200, 16: 800, 64: 1280, 256: 2560 };
const SLOW_STREAMS = QUICK ? 200 : 1000;
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

// ---------- small helpers

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))];
}
export const median = (values: number[]) => percentile(values, 0.5);
export const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

/** User + system CPU time of a process so far, in ms (Linux /proc). */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------- the processes

export class FakeProcess {
  private nextId = 1;
  private readonly pending = new Map<number, (result: unknown) => void>();
  urls!: FakeUrls;
  /** The certificate of the HTTPS front (`urls.sentinelOverHttp2`). */
  caFile!: string;

  constructor(private readonly child: ChildProcess) {}

  static async start(): Promise<FakeProcess> {
    const child = fork(join(__dirname, 'fake-server.ts'), [], {
      execArgv: ['-r', 'ts-node/register/transpile-only'],
      env: { ...process.env, TS_NODE_COMPILER_OPTIONS: '{"module":"commonjs","moduleResolution":"node"}' },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const fake = new FakeProcess(child);
    await new Promise<void>((resolve, reject) => {
      child.on('message', (message: { ready?: boolean; urls?: FakeUrls; caFile?: string; id?: number; result?: unknown }) => {
        if (message.ready) {
          fake.urls = message.urls!;
          fake.caFile = message.caFile!;
          resolve();
        } else if (message.id !== undefined) {
          fake.pending.get(message.id)?.(message.result);
          fake.pending.delete(message.id);
        }
      });
      child.once('exit', (code) => reject(new Error(`fake upstream exited (${code})`)));
    });
    return fake;
  }

  get pid(): number {
    return this.child.pid!;
  }

  private command(command: FakeCommand extends infer C ? (C extends { id: number } ? Omit<C, 'id'> : never) : never): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.child.send({ ...command, id });
    });
  }

  token = (fake: FakeName) => this.command({ op: 'token', fake }) as Promise<string>;
  answer = (fake: FakeName, text: string) => this.command({ op: 'answer', fake, text });
  enqueue = (fake: FakeName, scenario: Scenario, times: number) => this.command({ op: 'enqueue', fake, scenario, times });
  reset = (fake: FakeName) => this.command({ op: 'reset', fake });

  stop(): void {
    this.child.disconnect();
  }
}

export interface Server {
  url: string;
  pid: number;
  /** ms from spawn to listening. */
  listeningAfterMs: number;
  stop(): Promise<void>;
}

/** One of the bench's own floors (`bare-proxy.js`, `translating-floor.js`) in front of `targetUrl`. */
async function startFloor(script: 'bare-proxy.js' | 'translating-floor.js', targetUrl: string): Promise<Server> {
  const started = performance.now();
  const child = spawn(process.execPath, [join(__dirname, script)], {
    env: { TARGET_URL: targetUrl },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<string>((resolve) => child.stdout.once('data', (data: Buffer) => resolve(data.toString().trim())));
  return { url: `http://127.0.0.1:${port}`, pid: child.pid!, listeningAfterMs: performance.now() - started, stop: () => stopChild(child) };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  });
}

/** A port free right now: one picked at random was now and then taken (another run, a socket of this one) and FlowGPT would not start. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** `node <dist>/main.js` against a fake; resolves once /healthz answers. */
export async function startFlowGpt(dist: string, env: Record<string, string>, nodeArgs: string[] = []): Promise<Server> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'flowgpt-bench-'));
  const started = performance.now();
  const extraArgs = process.env.BENCH_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...extraArgs, ...nodeArgs, join(dist, 'main.js')], {
    cwd: dataDir,
    env: { PATH: process.env.PATH, PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'error', POW_WORKERS: '2', ...env },
    stdio: ['ignore', process.env.BENCH_SERVER_LOG ? 'inherit' : 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`FlowGPT (${dist}) exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      http
        .get(`${url}/healthz`, (response) => {
          response.resume();
          resolve(response.statusCode === 200);
        })
        .on('error', () => resolve(false));
    });
    if (ok) break;
    await sleep(20);
  }
  return {
    url,
    pid: child.pid!,
    listeningAfterMs: performance.now() - started,
    stop: async () => {
      await stopChild(child);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Builds dist/ when it is missing or older than a source file. */
export function ensureBuilt(): void {
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((latest, entry) => {
      const path = join(dir, entry.name);
      return Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
    }, 0);
  const main = join(ROOT, 'dist', 'main.js');
  if (existsSync(main) && statSync(main).mtimeMs >= newest(join(ROOT, 'src'))) return;
  console.log('building dist/ (npm run build) …');
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
}

// ---------- the client

export const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024 });

interface Sample {
  firstByteMs: number;
  totalMs: number;
  /** From the fake writing the first piece to this client reading it (`stamped`), else NaN. */
  firstPieceAfterSendMs: number;
}

/** The clock the fake stamps its first piece with: the same wall clock in every process on this machine. */
const wallClockMs = () => performance.timeOrigin + performance.now();
/** Longer than any stamp: what is kept of one read in case a stamp starts in it and ends in the next. */
const STAMP_CARRY_CHARS = 64;

interface PostOptions {
  /**
   * Also time the first piece's send-time stamp (`stampSendTime`), in either wire format: an OpenAI chunk's
   * delta.content, the upstream's append operation.
   */
  stamped?: boolean;
  /** Other than the shared keep-alive pool. */
  agent?: http.Agent;
}

/** POSTs and reads the whole answer, timing its first body byte and its end. */
export function timedPost(url: string, body: string, headers: Record<string, string>, options: PostOptions = {}): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let firstByteMs = 0;
    let firstPieceAfterSendMs = NaN;
    let carry: string | null = options.stamped ? '' : null;
    const request = http.request(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, agent: options.agent ?? agent },
      (response) => {
        response.on('data', (chunk: Buffer) => {
          if (!firstByteMs) firstByteMs = performance.now() - started;
          if (carry === null) return;
          const text = carry + chunk.toString('latin1');
          const stamp = SENT_AT_PATTERN.exec(text);
          if (stamp) firstPieceAfterSendMs = wallClockMs() - Number(stamp[1]);
          carry = stamp ? null : text.slice(-STAMP_CARRY_CHARS);
        });
        response.on('end', () => {
          if (response.statusCode !== 200) reject(new Error(`${url}: status ${response.statusCode}`));
          else resolve({ firstByteMs, totalMs: performance.now() - started, firstPieceAfterSendMs });
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

interface LoadResult {
  clients: number;
  requests: number;
  errors: number;
  firstByte: { p50: number; p99: number };
  total: { p50: number; p99: number };
  perSecond: number;
}

export async function load(clients: number, requests: number, call: () => Promise<Sample>): Promise<LoadResult> {
  const samples: Sample[] = [];
  let errors = 0;
  let issued = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (issued < requests) {
        issued++;
        try {
          samples.push(await call());
        } catch {
          errors++;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const first = samples.map((sample) => sample.firstByteMs);
  const total = samples.map((sample) => sample.totalMs);
  return {
    clients,
    requests,
    errors,
    firstByte: { p50: round(median(first), 2), p99: round(percentile(first, 0.99), 2) },
    total: { p50: round(median(total), 2), p99: round(percentile(total, 0.99), 2) },
    perSecond: round(samples.length / seconds, 0),
  };
}

function upstreamBody(): string {
  return JSON.stringify({
    action: 'next',
    messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: ['hi'] }, metadata: {} }],
    model: 'gpt-4o',
    parent_message_id: randomUUID(),
    supported_encodings: ['v1'],
  });
}

export const CHAT = JSON.stringify({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }] });

/** The bench's streamed chat request to a server that speaks the OpenAI API (FlowGPT, the translating floor). */
const chatCall = (server: Server, token: string) => () =>
  timedPost(`${server.url}/v1/chat/completions`, CHAT, { authorization: `Bearer ${token}` });
/** The upstream's own conversation request, for the fake and the bare proxy, which pass it on as it is. */
const conversationCall = (url: string, token: string) => () =>
  timedPost(`${url}/backend-api/conversation`, upstreamBody(), { authorization: `Bearer ${token}`, accept: 'text/event-stream' });

// ---------- the phases

async function cpuPerRequest(server: Server, token: string, requests: number, call = chatCall(server, token)): Promise<number> {
  // Warm enough for V8 to have optimised the hot paths: their compilation is CPU time too, and a fresh server would pay it.
  await load(16, QUICK ? 200 : 2000, call);
  const before = cpuMs(server.pid);
  await load(16, requests, call);
  return round((cpuMs(server.pid) - before) / requests, 3);
}

/**
 * The short-request paths whose CPU is compared: the single exchange the bare proxy makes too, the 2026 flow's
 * prepare call on top of it, and the whole sentinel path (chat requirements, proof of work) the real service needs.
 */
export interface CpuPath {
  key: string;
  fake: 'plain' | 'sentinel';
  env: Record<string, string>;
  /** Through the fake's HTTPS + HTTP/2 front, as chatgpt.com itself is reached (a direct route, HTTP/2 by ALPN). */
  overHttp2?: boolean;
}
export const CPU_PATHS: CpuPath[] = [
  { key: 'conversationOnly', fake: 'plain', env: { CONVERSATION_ONLY: 'true', UPSTREAM_FLOW: 'classic' } },
  { key: 'conversationOnlyWithPrepare', fake: 'plain', env: { CONVERSATION_ONLY: 'true', UPSTREAM_FLOW: 'f' } },
  { key: 'withSentinel', fake: 'sentinel', env: {} },
  { key: 'withSentinelOverHttp2', fake: 'sentinel', env: {}, overHttp2: true },
];

/** FlowGPT's environment for `path`: its fake as the upstream (trusted when it is the HTTPS front) and the path's own settings. */
export function pathEnv(path: CpuPath, fake: FakeProcess): Record<string, string> {
  const url = path.overHttp2 ? fake.urls.sentinelOverHttp2 : fake.urls[path.fake];
  const trust: Record<string, string> = path.overHttp2 ? { NODE_EXTRA_CA_CERTS: fake.caFile } : {};
  return { CHATGPT_BASE_URL: url, AUTH_BASE_URL: url, ...trust, ...path.env };
}

/** CPU per short request of the build in `dist` on `path`, on a server of its own. */
async function cpuOfBuild(dist: string, fake: FakeProcess, path: CpuPath, token: string): Promise<number> {
  const server = await startFlowGpt(dist, pathEnv(path, fake));
  try {
    return await cpuPerRequest(server, token, QUICK ? 200 : 2000);
  } finally {
    await server.stop();
  }
}

/**
 * CPU of a short request on each path, each build on a fresh server. With a baseline (`BENCH_BASELINE_DIST`) the
 * two builds are measured in the order this, baseline, baseline, this, and each figure is the mean of its two runs:
 * one run after the other drifted by up to 20% on this machine (a build compared with itself read 1.21), and the
 * symmetric order cancels a drift that grows over the run.
 */
async function cpuPerShortRequest(fake: FakeProcess, token: string): Promise<Record<string, number>> {
  const sentinelToken = await fake.token('sentinel');
  await fake.answer('sentinel', ANSWER);
  await fake.answer('plain', ANSWER);
  const tokens: Record<CpuPath['fake'], string> = { plain: token, sentinel: sentinelToken };
  const thisDist = join(ROOT, 'dist');
  const baselineDist = process.env.BENCH_BASELINE_DIST;
  const cpuShort: Record<string, number> = {};
  for (const path of CPU_PATHS) {
    const cpuOf = (dist: string) => cpuOfBuild(dist, fake, path, tokens[path.fake]);
    if (!baselineDist) {
      cpuShort[path.key] = await cpuOf(thisDist);
      continue;
    }
    const runs = { now: [await cpuOf(thisDist)], before: [await cpuOf(baselineDist)] };
    runs.before.push(await cpuOf(baselineDist));
    runs.now.push(await cpuOf(thisDist));
    const now = round((runs.now[0] + runs.now[1]) / 2, 3);
    const before = round((runs.before[0] + runs.before[1]) / 2, 3);
    const name = path.key[0].toUpperCase() + path.key.slice(1);
    cpuShort[path.key] = now;
    cpuShort[`baseline${name}`] = before;
    cpuShort[`ratio${name}`] = round(now / before, 2);
  }
  return cpuShort;
}

/** `BENCH_ONLY=cpu`: only the CPU per short request (with the baseline when given), printed, nothing written. */
async function cpuOnly(): Promise<void> {
  ensureBuilt();
  const fake = await FakeProcess.start();
  try {
    const token = await fake.token('plain');
    console.log(JSON.stringify(await cpuPerShortRequest(fake, token), null, 2));
  } finally {
    fake.stop();
    agent.destroy();
  }
}

async function slowStreams(fake: FakeProcess, server: Server, token: string, chat: boolean): Promise<Record<string, number>> {
  const words = Array.from({ length: 20 }, (_, k) => `w${k}`).join(' ');
  // Each stream lasts about 2 s: 20 pieces, 100 ms apart (as are the events before them). The first piece carries
  // the time the fake wrote it, so the delay the target speaks of (fake sends → client reads) is measured apart
  // from the time it takes to set up 1,000 requests at once.
  // Scenarios a run before left unused (its refused connections took none) would answer this run's first requests.
  await fake.reset('plain');
  await fake.answer('plain', ANSWER);
  await fake.enqueue('plain', { kind: 'text', text: words, delayMs: 100, stampSendTime: true }, SLOW_STREAMS);
  // What the earlier phases left: V8 keeps the heap those grew until it is idle for a while.
  const rssAtStart = rssMb(server.pid);
  let peakRss = rssAtStart;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb(server.pid))), 50);
  const url = chat ? `${server.url}/v1/chat/completions` : `${server.url}/backend-api/conversation`;
  // A connection each, as 1,000 clients would open: none is a kept-alive socket the server may be closing as it idled.
  const clients = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const started = performance.now();
  const results = await Promise.allSettled(
    Array.from({ length: SLOW_STREAMS }, () =>
      timedPost(
        url,
        chat ? CHAT : upstreamBody(),
        { authorization: `Bearer ${token}`, ...(chat ? {} : { accept: 'text/event-stream' }) },
        { stamped: true, agent: clients },
      ),
    ),
  );
  clients.destroy();
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const samples = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const first = samples.map((sample) => sample.firstByteMs);
  const afterSend = samples.map((sample) => sample.firstPieceAfterSendMs).filter((ms) => !Number.isNaN(ms));
  return {
    streams: SLOW_STREAMS,
    errors: results.filter((result) => result.status === 'rejected').length,
    firstTokenP50Ms: round(median(first)),
    firstTokenP99Ms: round(percentile(first, 0.99)),
    firstTokenMaxMs: round(Math.max(...first)),
    over1s: first.filter((ms) => ms > 1000).length,
    // Streams whose first piece carried no stamp (it was lost or mangled on the way) count against the target.
    unstamped: samples.length - afterSend.length,
    afterSendP50Ms: round(median(afterSend)),
    afterSendP99Ms: round(percentile(afterSend, 0.99)),
    afterSendMaxMs: afterSend.length ? round(Math.max(...afterSend)) : NaN,
    afterSendOver1s: afterSend.filter((ms) => ms > 1000).length,
    allDoneS: round(seconds, 2),
    rssAtStartMb: round(rssAtStart),
    peakRssMb: round(peakRss),
  };
}

async function cpuPerAnswer(fake: FakeProcess, fakeName: FakeName, server: Server, token: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [chars, count] of [
    [1_000, 20],
    [10_000, 10],
    [50_000, 5],
  ]) {
    const call = () => timedPost(`${server.url}/v1/chat/completions`, CHAT, { authorization: `Bearer ${token}` });
    // Pieces of ~4 characters, like a model's tokens.
    await fake.enqueue(fakeName, { kind: 'long', chars, chunkChars: 4 }, count + 1);
    await call();
    const before = cpuMs(server.pid);
    for (let k = 0; k < count; k++) await call();
    out[`${chars}`] = round((cpuMs(server.pid) - before) / count, 2);
  }
  out.ratio50kTo1k = round(out['50000'] / out['1000'], 1);
  return out;
}

async function main(): Promise<void> {
  const began = performance.now();
  ensureBuilt();
  const fake = await FakeProcess.start();
  await fake.answer('plain', ANSWER);
  const token = await fake.token('plain');
  const bare = await startFloor('bare-proxy.js', fake.urls.plain);
  const floor = await startFloor('translating-floor.js', fake.urls.plain);

  const spawnedAt = performance.now();
  // The classic send flow makes the same single exchange as the bare proxy; the 2026 flow's extra
  // `f/conversation/prepare` call is measured on its own below.
  const flow = await startFlowGpt(join(ROOT, 'dist'), {
    CHATGPT_BASE_URL: fake.urls.plain,
    AUTH_BASE_URL: fake.urls.plain,
    CONVERSATION_ONLY: 'true',
    UPSTREAM_FLOW: 'classic',
  });
  await timedPost(`${flow.url}/v1/chat/completions`, CHAT, { authorization: `Bearer ${token}` });
  const startup = { listeningMs: round(flow.listeningAfterMs, 0), firstAnswerMs: round(performance.now() - spawnedAt, 0), idleRssMb: 0 };
  await sleep(1000);
  startup.idleRssMb = round(rssMb(flow.pid));

  const direct = conversationCall(fake.urls.plain, token);
  const viaBare = conversationCall(bare.url, token);
  const viaFloor = chatCall(floor, token);
  const viaFlow = chatCall(flow, token);
  for (const call of [direct, viaBare, viaFloor, viaFlow]) await load(16, 200, call);

  // Each load is measured twice in a row: first as it comes, with the connections that the step up from the level
  // before opens during the run (`latency`), then again with all of them open (`latencyWarm`). A saturated Node
  // server accepts one new connection per event-loop turn (libuv ≥ 1.45), so the first run's p99 is mostly the
  // wait of those new connections to be accepted; the second is the steady state.
  const latency: Record<string, Record<string, LoadResult>> = { direct: {}, bare: {}, floor: {}, flowgpt: {} };
  const latencyWarm: Record<string, Record<string, LoadResult>> = { direct: {}, bare: {}, floor: {}, flowgpt: {} };
  for (const clients of LEVELS) {
    for (const [setup, call] of [
      ['direct', direct],
      ['bare', viaBare],
      ['floor', viaFloor],
      ['flowgpt', viaFlow],
    ] as const) {
      latency[setup][clients] = await load(clients, REQUESTS_AT[clients], call);
      latencyWarm[setup][clients] = await load(clients, REQUESTS_AT[clients], call);
    }
    await fake.reset('plain');
    await fake.answer('plain', ANSWER);
    console.log(`load at ${clients} clients done (${round((performance.now() - began) / 1000, 0)} s)`);
  }
  const compare = (runs: Record<string, Record<string, LoadResult>>) => {
    const added = (setup: 'bare' | 'floor' | 'flowgpt', clients: number) => ({
      firstByteP50: round(runs[setup][clients].firstByte.p50 - runs.direct[clients].firstByte.p50, 2),
      firstByteP99: round(runs[setup][clients].firstByte.p99 - runs.direct[clients].firstByte.p99, 2),
      totalP50: round(runs[setup][clients].total.p50 - runs.direct[clients].total.p50, 2),
      totalP99: round(runs[setup][clients].total.p99 - runs.direct[clients].total.p99, 2),
    });
    return Object.fromEntries(
      LEVELS.map((clients) => [
        clients,
        {
          addedByBare: added('bare', clients),
          addedByFlowGpt: added('flowgpt', clients),
          addedByFloor: added('floor', clients),
          throughputRatioFlowGptToBare: round(runs.flowgpt[clients].perSecond / runs.bare[clients].perSecond, 2),
          firstByteP99RatioFlowGptToBare: round(runs.flowgpt[clients].firstByte.p99 / runs.bare[clients].firstByte.p99, 2),
          throughputRatioFloorToBare: round(runs.floor[clients].perSecond / runs.bare[clients].perSecond, 2),
          firstByteP99RatioFloorToBare: round(runs.floor[clients].firstByte.p99 / runs.bare[clients].firstByte.p99, 2),
        },
      ]),
    );
  };
  const comparison = compare(latency);
  const comparisonWarm = compare(latencyWarm);

  const streams: Record<string, Record<string, number>> = {
    bare: await slowStreams(fake, bare, token, false),
    flowgpt: await slowStreams(fake, flow, token, true),
  };
  // The same on a server that has only answered a few requests: what 1,000 streams cost on their own, without the
  // heap that the load phases before grew (V8 keeps it for a while).
  const fresh = await startFlowGpt(join(ROOT, 'dist'), {
    CHATGPT_BASE_URL: fake.urls.plain,
    AUTH_BASE_URL: fake.urls.plain,
    CONVERSATION_ONLY: 'true',
    UPSTREAM_FLOW: 'classic',
  });
  await load(4, 20, () => timedPost(`${fresh.url}/v1/chat/completions`, CHAT, { authorization: `Bearer ${token}` }));
  streams.flowgptFresh = await slowStreams(fake, fresh, token, true);
  await fresh.stop();
  console.log(`slow streams done (${round((performance.now() - began) / 1000, 0)} s)`);
  await fake.reset('plain');
  const answersDelta = await cpuPerAnswer(fake, 'plain', flow, token);
  await flow.stop();

  const classicToken = await fake.token('classic');
  const classicFlow = await startFlowGpt(join(ROOT, 'dist'), {
    CHATGPT_BASE_URL: fake.urls.classic,
    AUTH_BASE_URL: fake.urls.classic,
    CONVERSATION_ONLY: 'true',
  });
  const answersClassic = await cpuPerAnswer(fake, 'classic', classicFlow, classicToken);
  await classicFlow.stop();

  const cpuShort = await cpuPerShortRequest(fake, token);
  // The two floors' own CPU for the same request, measured the same way: what piping costs, and what translating adds.
  cpuShort.bareProxy = await cpuPerRequest(bare, token, QUICK ? 200 : 2000, conversationCall(bare.url, token));
  cpuShort.translatingFloor = await cpuPerRequest(floor, token, QUICK ? 200 : 2000);
  console.log(`CPU phases done (${round((performance.now() - began) / 1000, 0)} s)`);

  await bare.stop();
  await floor.stop();
  fake.stop();
  agent.destroy();

  const pow: PowBench = await benchPow(QUICK);
  const results = {
    machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version, quick: QUICK },
    answerChars: ANSWER.length,
    startup,
    latency,
    comparison,
    latencyWarm,
    comparisonWarm,
    cpuPerShortRequestMs: cpuShort,
    slowStreams: streams,
    cpuPerAnswerMs: { delta: answersDelta, classic: answersClassic },
    pow,
    benchSeconds: round((performance.now() - began) / 1000, 0),
  };
  writeFileSync(join(__dirname, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(table(results));
}

type Comparison = Record<
  string,
  {
    addedByBare: Record<string, number>;
    addedByFlowGpt: Record<string, number>;
    addedByFloor: Record<string, number>;
    throughputRatioFlowGptToBare: number;
    firstByteP99RatioFlowGptToBare: number;
    throughputRatioFloorToBare: number;
    firstByteP99RatioFloorToBare: number;
  }
>;

type Results = {
  machine: { cores: number; cpu?: string; node: string };
  startup: { listeningMs: number; firstAnswerMs: number; idleRssMb: number };
  latency: Record<string, Record<string, LoadResult>>;
  comparison: Comparison;
  latencyWarm: Record<string, Record<string, LoadResult>>;
  comparisonWarm: Comparison;
  cpuPerShortRequestMs: Record<string, number>;
  slowStreams: Record<string, Record<string, number>>;
  cpuPerAnswerMs: Record<string, Record<string, number>>;
  pow: PowBench;
  benchSeconds: number;
};

/** One load table: every level of `runs`, with the added times and ratios of `comparison`. */
function loadTable(runs: Results['latency'], comparison: Comparison): string[] {
  return [
    '| clients | direct TTFB p50/p99 ms | bare proxy added p50/p99 | FlowGPT added p50/p99 | FlowGPT added total p50/p99 | req/s direct / bare / FlowGPT | FlowGPT ÷ bare | p99 FlowGPT ÷ bare | translating floor: req/s, ÷ bare, p99 ÷ bare |',
    '|---|---|---|---|---|---|---|---|---|',
    ...LEVELS.map((clients) => {
      const d = runs.direct[clients];
      const c = comparison[clients];
      return (
        `| ${clients} | ${d.firstByte.p50} / ${d.firstByte.p99} | ${c.addedByBare.firstByteP50} / ${c.addedByBare.firstByteP99} | ` +
        `${c.addedByFlowGpt.firstByteP50} / ${c.addedByFlowGpt.firstByteP99} | ${c.addedByFlowGpt.totalP50} / ${c.addedByFlowGpt.totalP99} | ` +
        `${d.perSecond} / ${runs.bare[clients].perSecond} / ${runs.flowgpt[clients].perSecond} | ${c.throughputRatioFlowGptToBare} | ${c.firstByteP99RatioFlowGptToBare} | ` +
        `${runs.floor[clients].perSecond}, ${c.throughputRatioFloorToBare}, ${c.firstByteP99RatioFloorToBare} |`
      );
    }),
  ];
}

/** The README's table (Markdown). */
export function table(r: Results): string {
  const lines = [
    `Machine: ${r.machine.cores} cores (${r.machine.cpu}), Node ${r.machine.node}; bench took ${r.benchSeconds} s.`,
    '',
    ...loadTable(r.latency, r.comparison),
    '',
    'With every connection already open (the same load again, right after):',
    '',
    ...loadTable(r.latencyWarm, r.comparisonWarm),
  ];
  const s = r.slowStreams;
  lines.push(
    '',
    '| slow streams at once | errors | first token after the fake sent it p50 / p99 / max ms | over 1 s (unstamped) | from request start p50 / p99 / max ms | over 1 s | RSS at start / peak MB |',
    '|---|---|---|---|---|---|---|',
    ...['bare', 'flowgpt', 'flowgptFresh'].map(
      (k) =>
        `| ${k} × ${s[k].streams} | ${s[k].errors} | ${s[k].afterSendP50Ms} / ${s[k].afterSendP99Ms} / ${s[k].afterSendMaxMs} | ${s[k].afterSendOver1s} (${s[k].unstamped}) | ` +
        `${s[k].firstTokenP50Ms} / ${s[k].firstTokenP99Ms} / ${s[k].firstTokenMaxMs} | ${s[k].over1s} | ${s[k].rssAtStartMb} / ${s[k].peakRssMb} |`,
    ),
    '',
    '| CPU per answer (ms) | 1k chars | 10k | 50k | 50k ÷ 1k |',
    '|---|---|---|---|---|',
    ...['delta', 'classic'].map((k) => {
      const a = r.cpuPerAnswerMs[k];
      return `| ${k} | ${a['1000']} | ${a['10000']} | ${a['50000']} | ${a.ratio50kTo1k} |`;
    }),
    '',
    `CPU per short request (ms): ${Object.entries(r.cpuPerShortRequestMs)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `Start-up: listening after ${r.startup.listeningMs} ms, first answer after ${r.startup.firstAnswerMs} ms, idle RSS ${r.startup.idleRssMb} MB`,
    '',
    '| proof of work | Node, 1 thread, median ms | Node pool median ms | Python reference median ms | Node ÷ Python | solved (of seeds) |',
    '|---|---|---|---|---|---|',
    ...r.pow.difficulties.map(
      (d) =>
        `| ${d.difficulty} | ${d.nodeSequentialMedianMs} | ${d.poolMedianMs} | ${d.pythonMedianMs ?? 'n/a'} | ${d.nodeToPython ?? 'n/a'} | ${d.solved}/${d.seeds} |`,
    ),
    `Event loop during ${r.pow.eventLoop.parallelSolves} parallel ${r.pow.eventLoop.difficulty} solves: delay p50 ${r.pow.eventLoop.delayP50Ms} ms, p99 ${r.pow.eventLoop.delayP99Ms} ms, max ${r.pow.eventLoop.delayMaxMs} ms`,
  );
  return lines.join('\n');
}

if (require.main === module) {
  (process.env.BENCH_ONLY === 'cpu' ? cpuOnly() : main()).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
