/**
 * `npm run bench:profile`: where FlowGPT's CPU goes on the bench's short streamed request. Starts the fake upstream
 * and FlowGPT as `npm run bench` does (`CONVERSATION_ONLY`, classic flow), warms it with 2,000 requests, then
 * profiles 4,000 requests at 64 clients (V8's sampling profiler, started and stopped by signal) and prints the
 * self time grouped by package (ours by module folder), then the top functions. The profile is kept in
 * bench/profile.cpuprofile (open it in Chrome's DevTools). BENCH_QUICK=1 runs a smaller load; BENCH_PROFILE_PATH names
 * another of the bench's CPU paths (`conversationOnlyWithPrepare`, the 2026 flow; `withSentinel`, the whole sentinel path; `withSentinelOverHttp2`, the same over HTTPS + HTTP/2).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  CHAT,
  ANSWER,
  CPU_PATHS,
  pathEnv,
  FakeProcess,
  ROOT,
  agent,
  cpuMs,
  ensureBuilt,
  load,
  round,
  sleep,
  startFlowGpt,
  timedPost,
} from './bench';

const QUICK = process.env.BENCH_QUICK === '1';
const WARM_UP = QUICK ? 300 : 2_000;
const PROFILED = QUICK ? 600 : 4_000;
const CLIENTS = 64;
const PROFILE_FILE = join(__dirname, 'profile.cpuprofile');

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** What a sample is charged to: a package, one of our module folders, a part of Node, or V8's own work. */
export function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? `V8 ${functionName}` : `native ${functionName}`;
  const inPackage = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (inPackage) return inPackage[1];
  const ours = /\/dist\/([^/]+)\/?/.exec(url);
  if (ours) return `FlowGPT src/${ours[1].replace(/\.js$/, '')}`;
  if (url.startsWith('node:')) {
    const module = url.slice('node:'.length);
    if (/_http|^http/.test(module)) return 'Node http';
    if (/streams|stream_base/.test(module)) return 'Node streams';
    if (/^net$|^internal\/net/.test(module)) return 'Node net';
    if (module === 'events') return 'Node events';
    return 'Node other';
  }
  return url;
}

function selfTimes(profile: CpuProfile): { byArea: Map<string, number>; byFunction: Map<string, number>; busyUs: number } {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const byArea = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let busyUs = 0;
  profile.samples.forEach((id, index) => {
    const { functionName, url, lineNumber } = nodes.get(id)!.callFrame;
    if (functionName === '(idle)') return;
    const us = profile.timeDeltas[index] ?? 0;
    busyUs += us;
    const area = areaOf(url, functionName);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
    const where = `${functionName || '(anonymous)'} ${url.replace(/.*node_modules\//, '').replace(/.*\/dist\//, 'dist/')}:${lineNumber + 1}`;
    byFunction.set(where, (byFunction.get(where) ?? 0) + us);
  });
  return { byArea, byFunction, busyUs };
}

function top(map: Map<string, number>, total: number, count: number): string[] {
  return [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, us]) => `| ${round((100 * us) / total, 1)}% | ${name} |`);
}

async function main(): Promise<void> {
  ensureBuilt();
  rmSync(PROFILE_FILE, { force: true });
  const pathKey = process.env.BENCH_PROFILE_PATH ?? 'conversationOnly';
  const path = CPU_PATHS.find((candidate) => candidate.key === pathKey);
  if (!path) throw new Error(`BENCH_PROFILE_PATH: one of ${CPU_PATHS.map((candidate) => candidate.key).join(', ')}`);
  const fake = await FakeProcess.start();
  await fake.answer(path.fake, ANSWER);
  const token = await fake.token(path.fake);
  const server = await startFlowGpt(join(ROOT, 'dist'), { ...pathEnv(path, fake), CPU_PROFILE_FILE: PROFILE_FILE }, [
    '-r',
    join(__dirname, 'cpu-profile-on-signal.js'),
  ]);
  try {
    const call = () => timedPost(`${server.url}/v1/chat/completions`, CHAT, { authorization: `Bearer ${token}` });
    await load(16, WARM_UP, call);
    process.kill(server.pid, 'SIGWINCH');
    await sleep(500);
    const cpuBefore = cpuMs(server.pid);
    const result = await load(CLIENTS, PROFILED, call);
    const cpuPerRequest = (cpuMs(server.pid) - cpuBefore) / PROFILED;
    process.kill(server.pid, 'SIGWINCH');
    while (!existsSync(PROFILE_FILE)) await sleep(100);
    const { byArea, byFunction, busyUs } = selfTimes(JSON.parse(readFileSync(PROFILE_FILE, 'utf8')) as CpuProfile);
    console.log(
      [
        `${pathKey}: ${PROFILED} requests at ${CLIENTS} clients, ${result.perSecond}/s, ${result.errors} errors; ` +
          `process CPU ${round(cpuPerRequest, 2)} ms per request (all threads), ` +
          `main thread busy ${round(busyUs / 1000 / PROFILED, 2)} ms per request in the profile`,
        '',
        '| share of the busy main thread | where (self time) |',
        '| --- | --- |',
        ...top(byArea, busyUs, 25),
        '',
        '| share | function |',
        '| --- | --- |',
        ...top(byFunction, busyUs, 30),
        '',
        `Profile: ${PROFILE_FILE}`,
      ].join('\n'),
    );
  } finally {
    await server.stop();
    fake.stop();
    agent.destroy();
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
