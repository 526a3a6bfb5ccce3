import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { FakeUpstream } from './fake-upstream/fake-upstream';
import { runServerSource, stopAllCommands } from './support/command';
import { freePort, http, startServer, stopAllServers } from './support/process';

jest.setTimeout(120_000);

describe('structured logs (LOG_FORMAT=json, real server process)', () => {
  let fake: FakeUpstream;
  let dataDir: string;

  beforeAll(async () => {
    fake = await FakeUpstream.start();
    dataDir = mkdtempSync(join(tmpdir(), 'flowgpt-logs-'));
  });
  afterAll(async () => {
    await stopAllServers();
    await stopAllCommands();
    await fake.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('writes one JSON line per request with route, status and duration, and never the full token', async () => {
    const server = await startServer({
      CHATGPT_BASE_URL: fake.url,
      AUTH_BASE_URL: fake.url,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'log',
      LOG_FORMAT: 'json',
      POW_WORKERS: '1',
    });
    const token = fake.createAccessToken({ email: 'logs@example.com' });
    fake.enqueue({ kind: 'status', status: 502 });
    fake.enqueue({ kind: 'text', text: 'logged answer' });
    const answer = await http('POST', `${server.url}/v1/chat/completions`, {
      headers: { authorization: `Bearer ${token}` },
      json: { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] },
    });
    expect(answer.status).toBe(200);
    await server.kill('SIGTERM');

    const output = server.output();
    const lines = output.split('\n').filter(Boolean);
    const entries = lines.map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`Not a JSON line: ${line}`);
      }
    });
    const requestLines = entries.filter((entry) => entry.route === '/v1/chat/completions');
    expect(requestLines).toHaveLength(1);
    expect(requestLines[0]).toEqual(
      expect.objectContaining({
        level: 'info',
        method: 'POST',
        route: '/v1/chat/completions',
        status: 200,
        durationMs: expect.any(Number),
        upstreamAttempts: 2,
        // The id the answer carries, which in-request lines (a retry, a failure) name too.
        answerId: (answer.json as { id: string }).id,
      }),
    );
    expect((answer.json as { id: string }).id).toMatch(/^chatcmpl-/);
    expect(requestLines[0].identity).toBe(`${token.slice(0, 6)}…${token.slice(-4)}`);
    expect(output).not.toContain(token);
    expect(output).not.toContain(token.slice(0, 20));
    // Nest's Logger goes through pino too, and Nest's wiring lines (routes, modules) wait for LOG_LEVEL=debug.
    expect(entries).toContainEqual(
      expect.objectContaining({ context: 'FlowGPT', msg: expect.stringContaining('Listening on http://localhost:') }),
    );
    expect(entries.some((entry) => entry.context === 'NestApplication' || entry.context === 'InstanceLoader')).toBe(false);
    expect(entries.some((entry) => entry.context === 'RouterExplorer' || entry.context === 'RoutesResolver')).toBe(false);
  });

  it("puts the request's reqId on every line logged while serving it: a gateway proxy warning, an admin sign-in", async () => {
    const closedPort = await freePort();
    const server = await startServer({
      CHATGPT_BASE_URL: fake.url,
      AUTH_BASE_URL: fake.url,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'log',
      LOG_FORMAT: 'json',
      POW_WORKERS: '1',
      ENABLE_GATEWAY: 'true',
      ADMIN_KEY: 'structured-logs-admin-key',
      CDN_BASE_URL: `http://127.0.0.1:${closedPort}`,
    });
    await request(server.url).get('/healthz').expect(200);
    await request(server.url).get('/assets/unreachable.js').expect(502);
    await request(server.url).post('/admin/login').type('form').send({ secret: 'structured-logs-admin-key' }).expect(303);
    await server.kill('SIGTERM');

    const entries = server
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const requestLine = (route: string) => entries.find((entry) => entry.route === route && 'durationMs' in entry);
    const loggedWhile = (pattern: RegExp) => entries.find((entry) => typeof entry.msg === 'string' && pattern.test(entry.msg));
    const proxy = requestLine('/assets/*path');
    const signIn = requestLine('/admin/login');
    expect([proxy?.reqId, signIn?.reqId, requestLine('/healthz')?.reqId]).toEqual([
      expect.any(Number),
      expect.any(Number),
      expect.any(Number),
    ]);
    expect(new Set([proxy?.reqId, signIn?.reqId, requestLine('/healthz')?.reqId]).size).toBe(3);
    expect(loggedWhile(/^cdn host unreachable/)).toMatchObject({ context: 'GatewayProxy', reqId: proxy?.reqId });
    expect(loggedWhile(/^Admin signed in from /)).toMatchObject({ reqId: signIn?.reqId });
    // Lines outside any request (start-up, shutdown) name none.
    expect(loggedWhile(/^Listening on /)).not.toHaveProperty('reqId');
  });

  // AsyncLocalStorage turns on promise hooks, which every promise in the process pays for on Node 20: only the one
  // that carries the request ids is allowed, and only while request lines are written.
  it.each([
    ['log', 'on'],
    ['error', 'off'],
  ])('at LOG_LEVEL=%s serves requests with promise hooks %s', async (level, hooks) => {
    const server = await startServer(
      { CHATGPT_BASE_URL: fake.url, AUTH_BASE_URL: fake.url, DATA_DIR: dataDir, LOG_LEVEL: level, POW_WORKERS: '1' },
      { nodeArgs: ['-r', join(__dirname, 'support', 'report-promise-hooks.js')] },
    );
    const token = fake.createAccessToken({ email: 'hooks@example.com' });
    fake.enqueue({ kind: 'status', status: 502 });
    fake.enqueue({ kind: 'text', text: 'answer' });
    const answer = await http('POST', `${server.url}/v1/chat/completions`, {
      headers: { authorization: `Bearer ${token}` },
      json: { model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }] },
    });
    expect(answer.status).toBe(200);
    server.child.kill('SIGWINCH');
    while (!/PROMISE-HOOKS (on|off)/.test(server.output())) await new Promise((resolve) => setTimeout(resolve, 50));
    await server.kill('SIGTERM');
    if (level === 'log') expect(server.output()).toMatch(/INFO {2}POST \/v1\/chat\/completions 200 \d+ms reqId=\d+ .*upstreamAttempts=2/);
    expect(server.output()).toContain(`PROMISE-HOOKS ${hooks}`);
  });

  // Nest buffers what the modules log while they are built, and flushes it through its start-up logger when that fails.
  it('writes the lines logged before a failed start as JSON too, beside the one start problem line', async () => {
    const brokenDir = mkdtempSync(join(tmpdir(), 'flowgpt-logs-broken-'));
    try {
      writeFileSync(join(brokenDir, 'accounts.json'), JSON.stringify({ version: 1, accounts: [null] }));
      const server = runServerSource({ DATA_DIR: brokenDir, LOG_FORMAT: 'json', LOG_LEVEL: 'debug', PORT: String(await freePort()) });
      expect((await server.exited()).code).toBe(1);
      const lines = server.output().split('\n').filter(Boolean);
      expect(lines.filter((line) => line.startsWith('Cannot start: '))).toHaveLength(1);
      const logged = lines.filter((line) => !line.startsWith('Cannot start: '));
      expect(logged.length).toBeGreaterThan(0);
      expect(logged.filter((line) => !line.startsWith('{'))).toEqual([]);
      for (const line of logged) expect(JSON.parse(line)).toEqual(expect.objectContaining({ level: expect.any(String) }));
    } finally {
      rmSync(brokenDir, { recursive: true, force: true });
    }
  });

  it('shows the route-mapping lines at LOG_LEVEL=debug, as readable text by default', async () => {
    const server = await startServer({ CHATGPT_BASE_URL: fake.url, AUTH_BASE_URL: fake.url, DATA_DIR: dataDir, LOG_LEVEL: 'debug' });
    await http('GET', `${server.url}/healthz`);
    await server.kill('SIGTERM');
    const output = server.output();
    expect(output).toMatch(/^\S+Z DEBUG \[RouterExplorer\] Mapped \{\/healthz, GET\} route/m);
    expect(output).toMatch(/^\S+Z INFO {2}GET \/healthz 200 \d+ms/m);
  });
});
