import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeUpstream } from '../fake-upstream/fake-upstream';
import { http, ServerProcess, startServer, stopAllServers } from '../support/process';

/**
 * HTTP fuzz (issue #9): thousands of generated requests across every route, authenticated and not — random JSON
 * shapes, wrong types, huge and deeply nested bodies, invalid UTF-8, odd headers and request targets. The server
 * must never answer 5xx, never crash, answer every error in its route's format, and give its memory back.
 *
 * Reproduce a failure with the seed it prints: `FUZZ_SEED=<seed> npm run test:resilience -- http-fuzz`.
 * `FUZZ_REQUESTS` changes the number of requests (default 5,000). `FUZZ_WITHOUT` (a comma list of words of the
 * failure labels, e.g. `content-encoding,3000-deep,200k-char`) leaves those requests out, to look past known failures.
 */
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 5_000);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : randomBytes(4).readUInt32LE(0);
const CONCURRENCY = 8;
const POOL_KEY = 'fuzz-pool-key';
const ADMIN_KEY = 'fuzz-admin-key';
const WITHOUT = (process.env.FUZZ_WITHOUT ?? '').split(',').filter(Boolean);
const NO_ANSWER = 'no answer within 60 s';
const GC_PRELOAD = join(__dirname, '..', 'support', 'gc-on-signal.js');

/** mulberry32: small, fast and good enough to pick cases; the same seed gives the same requests. */
function prng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  const chance = (p: number) => next() < p;
  return { next, int, pick, chance };
}
type Rng = ReturnType<typeof prng>;

interface FuzzRequest {
  method: string;
  /** The request target exactly as sent (may be absolute-form or odd-cased). */
  target: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** A short description for failure reports. */
  label: string;
  /** The route it was made from, to group failures by. */
  route: string;
}

type RouteFamily = 'api' | 'admin-api' | 'admin-page' | 'other';

interface Route {
  method: string;
  path: string;
  family: RouteFamily;
  /** The kind of body the route expects, to mutate from. */
  body?: 'chat' | 'tokens' | 'seed' | 'login' | 'form';
  /** Routes that would empty the pool: sent only without credentials. */
  destructive?: boolean;
}

const ROUTES: Route[] = [
  { method: 'GET', path: '/v1/models', family: 'api' },
  { method: 'POST', path: '/v1/chat/completions', family: 'api', body: 'chat' },
  { method: 'POST', path: '/v1/chat/completions', family: 'api', body: 'chat' },
  { method: 'POST', path: '/v1/chat/completions', family: 'api', body: 'chat' },
  { method: 'GET', path: '/v1/nope', family: 'api' },
  { method: 'GET', path: '/healthz', family: 'other' },
  { method: 'GET', path: '/static/flowgpt.css', family: 'other' },
  { method: 'GET', path: '/static/../package.json', family: 'other' },
  { method: 'GET', path: '/static/missing.js', family: 'other' },
  { method: 'GET', path: '/admin', family: 'admin-page' },
  { method: 'GET', path: '/admin/login', family: 'admin-page' },
  { method: 'POST', path: '/admin/login', family: 'admin-page', body: 'login' },
  { method: 'POST', path: '/admin/logout', family: 'admin-page', body: 'form' },
  { method: 'POST', path: '/admin/tokens', family: 'admin-page', body: 'tokens' },
  { method: 'POST', path: '/admin/tokens/clear', family: 'admin-page', body: 'form', destructive: true },
  { method: 'POST', path: '/admin/tokens/xyz/remove', family: 'admin-page', body: 'form' },
  { method: 'POST', path: '/admin/tokens/xyz/restore', family: 'admin-page', body: 'form' },
  { method: 'POST', path: '/admin/seeds', family: 'admin-page', body: 'seed' },
  { method: 'POST', path: '/admin/seeds/remove', family: 'admin-page', body: 'seed' },
  { method: 'GET', path: '/admin/api/tokens', family: 'admin-api' },
  { method: 'POST', path: '/admin/api/tokens', family: 'admin-api', body: 'tokens' },
  { method: 'DELETE', path: '/admin/api/tokens', family: 'admin-api', destructive: true },
  { method: 'DELETE', path: '/admin/api/tokens/xyz', family: 'admin-api' },
  { method: 'POST', path: '/admin/api/tokens/xyz/restore', family: 'admin-api', body: 'form' },
  { method: 'GET', path: '/admin/api/seeds', family: 'admin-api' },
  { method: 'POST', path: '/admin/api/seeds', family: 'admin-api', body: 'seed' },
  { method: 'DELETE', path: '/admin/api/seeds/xyz', family: 'admin-api' },
  { method: 'GET', path: '/nothing-here', family: 'other' },
];

const WEIRD_STRINGS = [
  '',
  ' ',
  '\u0000',
  '💥'.repeat(50),
  '\ud800',
  '<script>alert(1)</script>',
  '../../etc/passwd',
  '%s%n',
  'null',
  '-1',
  '1e309',
  '__proto__',
];

function randomJson(rng: Rng, depth = 0): unknown {
  const kind = rng.int(depth > 3 ? 5 : 8);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -1, 1.5, 2 ** 53 + 1, -(2 ** 31), 1e308]);
    case 3:
      return rng.pick(WEIRD_STRINGS);
    case 4:
      return 'x'.repeat(rng.int(300));
    case 5:
      return Array.from({ length: rng.int(5) }, () => randomJson(rng, depth + 1));
    default: {
      const keys = [
        'model',
        'messages',
        'role',
        'content',
        'stream',
        'tools',
        'tool_calls',
        'n',
        'type',
        'text',
        'image_url',
        'tokens',
        'seed',
        '__proto__',
        'constructor',
        'x',
      ];
      return Object.fromEntries(Array.from({ length: rng.int(5) }, () => [rng.pick(keys), randomJson(rng, depth + 1)]));
    }
  }
}

function validBody(kind: Route['body'], rng: Rng): Record<string, unknown> {
  switch (kind) {
    case 'chat':
      return {
        model: rng.pick(['gpt-4o', 'gpt-4o-mini', 'o1', 'gpt-5', 'no-such-model']),
        messages: [
          ...(rng.chance(0.3) ? [{ role: 'system', content: 'Be brief.' }] : []),
          { role: 'user', content: rng.chance(0.2) ? [{ type: 'text', text: 'Hi' }] : 'Hi' },
        ],
        ...(rng.chance(0.3) ? { stream: true } : {}),
      };
    case 'tokens':
      return { tokens: ['not-a-token', 'eyJ.bad.jwt'] };
    case 'seed':
      return { seed: `fuzz-seed-${rng.int(1000)}` };
    case 'login':
      return { key: rng.pick(['wrong', ADMIN_KEY, '']) };
    default:
      return {};
  }
}

/** Replaces one value somewhere in `value` by a random one (wrong types, nulls, odd strings). */
function mutate(value: unknown, rng: Rng): unknown {
  if (Array.isArray(value)) {
    if (value.length === 0 || rng.chance(0.3)) return [...value, randomJson(rng)];
    const index = rng.int(value.length);
    return value.map((item, i) => (i === index ? mutate(item, rng) : item));
  }
  if (value && typeof value === 'object') {
    const entries = Object.entries(value);
    if (entries.length === 0 || rng.chance(0.25))
      return { ...value, [rng.pick(['tool_calls', 'tools', 'n', 'extra', 'functions', 'logit_bias'])]: randomJson(rng) };
    const [key, inner] = rng.pick(entries);
    return { ...value, [key]: rng.chance(0.5) ? mutate(inner, rng) : randomJson(rng) };
  }
  return randomJson(rng);
}

function deepNesting(levels: number, rng: Rng): string {
  const [open, close] = rng.chance(0.5) ? ['[', ']'] : ['{"a":', '}'];
  return `{"model":"gpt-4o","messages":[{"role":"user","content":${open.repeat(levels)}1${close.repeat(levels)}}]}`;
}

/** The body, as a buffer, and what it is. */
function makeBody(route: Route, rng: Rng): { body: Buffer; kind: string } | undefined {
  const roll = rng.int(100);
  if (roll < 8) return undefined;
  if (roll < 35) return { body: Buffer.from(JSON.stringify(validBody(route.body, rng))), kind: 'valid' };
  if (roll < 65) return { body: Buffer.from(JSON.stringify(mutate(validBody(route.body, rng), rng))), kind: 'mutated' };
  if (roll < 75) return { body: Buffer.from(JSON.stringify(randomJson(rng))), kind: 'random json' };
  if (roll < 78) {
    const run = 'a'.repeat(200_000);
    return {
      body: Buffer.from(
        JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: rng.chance(0.5) ? run : [{ type: 'text', text: run }] }] }),
      ),
      kind: '200k-char run',
    };
  }
  if (roll < 81) return { body: Buffer.from(deepNesting(3_000, rng)), kind: '3000-deep nesting' };
  if (roll < 86) {
    const prefix = Buffer.from('{"model":"gpt-4o","messages":[{"role":"user","content":"');
    const bad = Buffer.from(rng.pick([[0xff, 0xfe], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80]]));
    return { body: Buffer.concat([prefix, bad, Buffer.from('"}]}')]), kind: 'invalid utf-8' };
  }
  if (roll < 90)
    return {
      body: Buffer.from(rng.pick(['{', '}', '[1,', 'not json', '{"a":1}{"b":2}', '\u0000\u0001', 'a=1&b=2', '"string"', 'null', '1'])),
      kind: 'broken text',
    };
  if (roll < 93) return { body: randomBytes(rng.int(2_000)), kind: 'random bytes' };
  return {
    body: Buffer.from(
      JSON.stringify({
        model: 'gpt-4o',
        messages: [
          {
            role: 'assistant',
            content: null,
            tool_calls: rng.pick([
              [null],
              [{}],
              [{ function: null }],
              'x',
              [{ id: 1, type: 'function', function: { name: 5, arguments: {} } }],
            ]),
          },
        ],
      }),
    ),
    kind: 'odd tool_calls',
  };
}

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data',
  'application/vnd.api+json',
  'garbage',
  '',
  'application/json; charset=utf-16',
];
const AUTHORIZATIONS = [
  '',
  'Bearer',
  'Bearer ',
  'Basic Zm9vOmJhcg==',
  'Bearer eyJhbGciOiJub25lIn0.e30.',
  `Bearer ${'x'.repeat(4_000)}`,
  'Bearer \u00ff\u00fe',
  'Digest x',
  'bearer fuzz-pool-key',
];
const COOKIES = [
  '',
  'admin_session=garbage',
  'admin_session=%E0%A4%A',
  'a=1; a=2; a=3',
  'admin_session=',
  '=novalue',
  `${'c'.repeat(200)}=${'v'.repeat(3_000)}`,
  'admin_session=s%3Abad.sig; flowgpt_csrf=x',
];

function makeRequest(rng: Rng, port: number): FuzzRequest {
  const route = rng.pick(ROUTES);
  const authenticated = !route.destructive && rng.chance(0.5);
  const headers: Record<string, string> = {};
  const notes: string[] = [];
  if (authenticated) {
    headers.authorization = `Bearer ${route.family === 'api' ? POOL_KEY : ADMIN_KEY}`;
    notes.push('auth');
  } else if (rng.chance(0.5)) {
    headers.authorization = rng.pick(AUTHORIZATIONS);
    notes.push(`authorization=${JSON.stringify(headers.authorization.slice(0, 24))}`);
  }
  // Authenticated, DELETE /admin/api/tokens would empty the pool: never made by changing the method.
  const methods = authenticated
    ? ['GET', 'POST', 'PUT', 'PATCH', 'OPTIONS', 'HEAD']
    : ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'];
  const method = rng.chance(0.1) ? rng.pick(methods) : route.method;
  const made = method === 'GET' || method === 'HEAD' ? (rng.chance(0.1) ? makeBody(route, rng) : undefined) : makeBody(route, rng);
  if (made) {
    headers['content-type'] = rng.chance(0.7) ? 'application/json' : rng.pick(CONTENT_TYPES);
    if (headers['content-type'] !== 'application/json') notes.push(`content-type=${JSON.stringify(headers['content-type'])}`);
    notes.push(made.kind);
  }
  if (rng.chance(0.08)) {
    headers['content-encoding'] = rng.pick(['gzip', 'deflate', 'br', 'identity', 'x-unknown']);
    notes.push(`content-encoding=${headers['content-encoding']}`);
  }
  if (rng.chance(0.15)) {
    headers.cookie = rng.pick(COOKIES);
    notes.push(`cookie=${JSON.stringify(headers.cookie.slice(0, 24))}`);
  }
  if (rng.chance(0.2)) headers.accept = rng.pick(['application/json', 'text/html', '*/*', 'text/event-stream', 'image/png']);
  if (headers.accept) notes.push(`accept=${headers.accept}`);
  if (rng.chance(0.05)) {
    headers.origin = rng.pick(['https://evil.example', 'null', 'http://127.0.0.1']);
    notes.push(`origin=${headers.origin}`);
  }

  let path = route.path;
  const shape = rng.int(100);
  if (shape < 10) path = path.replace(/[a-z]/g, (c) => (rng.chance(0.5) ? c.toUpperCase() : c));
  else if (shape < 14) path = `${path}/`;
  else if (shape < 18) path = `${path}?${rng.pick(['a=1', 'stream=true', '%zz', 'x[y][z]=1', 'a'.repeat(2_000)])}`;
  else if (shape < 20) path = path.replace(/\//g, '//');
  else if (shape < 22) path = path.replace('/', '/%2e%2e/');
  let target = path;
  if (rng.chance(0.08)) {
    target = `http://${rng.pick([`127.0.0.1:${port}`, 'evil.example', 'LOCALHOST'])}${path}`;
    notes.push('absolute-form');
  }
  return {
    method,
    target,
    headers,
    body: made?.body,
    label: `${method} ${target.slice(0, 80)} [${notes.join('; ')}]`,
    route: `${route.method} ${route.path}`,
  };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function send(port: number, request: FuzzRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: request.method,
        path: request.target,
        headers: { ...request.headers, ...(request.body ? { 'content-length': String(request.body.length) } : {}) },
        timeout: 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(NO_ANSWER)));
    req.on('error', reject);
    req.end(request.body);
  });
}

/** Which format an answer to this target must be in. */
function familyOf(target: string): RouteFamily {
  const path = target
    .replace(/^https?:\/\/[^/]+/i, '')
    .split('?')[0]
    .toLowerCase()
    .replace(/\/{2,}/g, '/');
  if (path.includes('%2e')) return 'other';
  if (path.startsWith('/v1/')) return 'api';
  if (path.startsWith('/admin/api/')) return 'admin-api';
  if (path === '/admin' || path.startsWith('/admin/')) return 'admin-page';
  return 'other';
}

function isOpenAiError(body: Buffer): boolean {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { error?: { message?: unknown; type?: unknown } };
    return typeof parsed.error?.message === 'string' && typeof parsed.error.type === 'string';
  } catch {
    return false;
  }
}

/** Why the answer breaks the rules, or undefined when it is fine. */
function problemWith(request: FuzzRequest, answer: Answer): string | undefined {
  if (answer.status >= 500) return `${answer.status}`;
  if (answer.status < 400 || request.method === 'HEAD') return undefined;
  const family = familyOf(request.target);
  const contentType = String(answer.headers['content-type'] ?? '');
  if ((family === 'api' || family === 'admin-api') && !isOpenAiError(answer.body))
    return `${answer.status} not in the OpenAI error format (${contentType})`;
  if (family === 'admin-page' && !contentType.startsWith('text/html') && !isOpenAiError(answer.body))
    return `${answer.status} neither an HTML page nor the error JSON (${contentType})`;
  return undefined;
}

/** A server's resident set size and heap use, in bytes. */
interface Memory {
  rss: number;
  heap: number;
}

const mb = (bytes: number | undefined) => (bytes === undefined ? 'no answer' : `${(bytes / 1e6).toFixed(0)} MB`);

describe('HTTP fuzz: every route, authenticated and not', () => {
  let fake: FakeUpstream;
  let server: ServerProcess;
  let dataDir: string;

  beforeAll(async () => {
    fake = await FakeUpstream.start();
    dataDir = mkdtempSync(join(tmpdir(), 'flowgpt-fuzz-'));
    server = await startServer(
      {
        DATA_DIR: dataDir,
        CHATGPT_BASE_URL: fake.url,
        AUTH_BASE_URL: fake.url,
        AUTHORIZATION: POOL_KEY,
        ADMIN_KEY,
        LOG_LEVEL: 'error',
        NO_COLOR: '1',
      },
      { nodeArgs: ['--expose-gc', '-r', GC_PRELOAD] },
    );
    const upload = await http('POST', `${server.url}/admin/api/tokens`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
      json: { tokens: [fake.createAccessToken(), fake.createAccessToken()] },
    });
    expect(upload.status).toBe(200);
  }, 240_000);
  afterAll(async () => {
    await stopAllServers();
    await fake?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Full GC in the server, then its resident set size and heap use (undefined when it does not answer within a minute). */
  const memoryAfterGc = (): Promise<Memory | undefined> =>
    new Promise((resolve) => {
      let seen = '';
      const onData = (chunk: Buffer) => {
        seen += chunk.toString('utf8');
        const match = /GC-RSS (\d+) HEAP (\d+)/.exec(seen);
        if (match) finish({ rss: Number(match[1]), heap: Number(match[2]) });
      };
      const timer = setTimeout(() => finish(undefined), 60_000);
      const finish = (memory: Memory | undefined) => {
        clearTimeout(timer);
        server.child.stderr!.off('data', onData);
        resolve(memory);
      };
      server.child.stderr!.on('data', onData);
      server.child.kill('SIGWINCH');
    });

  /** Sends `requests`, `CONCURRENCY` at a time, and groups the answers that break the rules by route and problem. */
  const run = async (requests: FuzzRequest[], failures: Map<string, { count: number; example: string }>) => {
    let next = 0;
    let crashed = false;
    void server.exited().then(() => (crashed = true));
    const note = (key: string, example: string) => {
      const entry = failures.get(key);
      if (entry) entry.count++;
      else failures.set(key, { count: 1, example });
    };
    /** Set when a request got no answer in time: the server is stuck (a blocked event loop), so stop sending. */
    let stuck = false;
    const worker = async () => {
      while (next < requests.length && !crashed && !stuck) {
        const request = requests[next++];
        try {
          const answer = await send(server.port, request);
          const problem = problemWith(request, answer);
          if (problem) note(`${request.route} → ${problem}`, `${request.label} → ${problem} ${answer.body.toString('utf8').slice(0, 160)}`);
        } catch (error) {
          const problem = `no answer (${(error as Error).message})`;
          if ((error as Error).message === NO_ANSWER) stuck = true;
          note(`${request.route} → ${crashed ? 'the server died' : problem}`, `${request.label} → ${problem}`);
          if (stuck) note(`stuck: ${request.label}`, 'in flight when the server stopped answering');
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    if (crashed) note('the server exited', `${JSON.stringify(await server.exited())} after ${next} requests`);
    if (stuck) note('the server stopped answering', `after ${next} requests; the requests without an answer are listed above`);
  };

  it(`answers ${REQUESTS} generated requests without a 5xx or a crash, in each route's error format, with flat memory`, async () => {
    console.log(
      `HTTP fuzz seed: ${SEED} (FUZZ_SEED=${SEED} reproduces this run)${WITHOUT.length > 0 ? `; left out: ${WITHOUT.join(', ')}` : ''}`,
    );
    const rng = prng(SEED);
    const requests = Array.from({ length: REQUESTS }, () => makeRequest(rng, server.port)).filter(
      (request) => !WITHOUT.some((word) => request.label.includes(word)),
    );
    // A few bodies just over and far over the body limit, unauthenticated.
    for (const size of [33 * 1024 * 1024, 40 * 1024 * 1024]) {
      requests.splice(rng.int(requests.length), 0, {
        method: 'POST',
        target: '/v1/chat/completions',
        headers: { 'content-type': 'application/json' },
        body: Buffer.alloc(size, 0x61),
        label: `POST /v1/chat/completions [unauthenticated ${size / 1024 / 1024} MB body]`,
        route: 'POST /v1/chat/completions (over the body limit)',
      });
    }
    const failures = new Map<string, { count: number; example: string }>();

    const warmUp = requests.splice(0, Math.min(300, requests.length));
    await run(warmUp, failures);
    const baseline = await memoryAfterGc();
    await run(requests, failures);

    const report = [...failures].map(([key, { count, example }]) => `${count}× ${key}\n     e.g. ${example}`);
    if (report.length > 0) {
      // The distinct errors the server logged, with how often: the causes behind the 5xx above.
      const causes = new Map<string, number>();
      for (const match of server.output().matchAll(/failed: (.+)$/gm)) causes.set(match[1], (causes.get(match[1]) ?? 0) + 1);
      const serverErrors = [...causes].map(([cause, count]) => `${count}× ${cause.slice(0, 200)}`);
      console.log(
        `HTTP fuzz seed ${SEED}: ${report.length} kinds of failure\n${report.join('\n')}\n\nErrors in the server log:\n${serverErrors.join('\n')}`,
      );
    }
    const exit = await Promise.race([server.exited(), new Promise((resolve) => setImmediate(() => resolve(undefined)))]);
    const health = await http('GET', `${server.url}/healthz`).catch((error: Error) => ({ status: `no answer: ${error.message}` }));
    const after = await memoryAfterGc();
    console.log(
      `HTTP fuzz seed ${SEED}: after GC, RSS ${mb(baseline?.rss)} and heap ${mb(baseline?.heap)} after the warm-up, ` +
        `RSS ${mb(after?.rss)} and heap ${mb(after?.heap)} at the end`,
    );

    expect({ seed: SEED, exit, health: health.status }).toEqual({ seed: SEED, exit: undefined, health: 200 });
    expect({ seed: SEED, failures: report }).toEqual({ seed: SEED, failures: [] });
    // Generous: the heap may keep some of what it grew to, but nothing may pile up per request.
    expect(baseline).toBeDefined();
    expect(after?.rss).toBeLessThan(baseline!.rss * 3);
    expect(after?.heap).toBeLessThan(baseline!.heap * 2);
  }, 1_800_000);
});
