import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

  it('serves requests without async hooks: no AsyncLocalStorage, whose promise hooks every promise in the process would pay for', async () => {
    const server = await startServer(
      { CHATGPT_BASE_URL: fake.url, AUTH_BASE_URL: fake.url, DATA_DIR: dataDir, LOG_LEVEL: 'log', POW_WORKERS: '1' },
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
    expect(server.output()).toMatch(/INFO {2}POST \/v1\/chat\/completions 200 \d+ms .*upstreamAttempts=2/);
    expect(server.output()).toContain('PROMISE-HOOKS off');
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
