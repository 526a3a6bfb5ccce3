import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { spawnSync } from 'node:child_process';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runServerSource, stopAllCommands, waitForHttp, type Command } from './support/command';
import { freePort, startServer, stopAllServers } from './support/process';

/**
 * What a newcomer sees in the terminal (issue 9): a short start-up summary, Nest's route lines only at
 * LOG_LEVEL=debug, and for a start that cannot work one line naming the problem, exit code 1, no stack trace.
 * Real server processes (ts-node), generous timeouts for a busy machine.
 */
jest.setTimeout(180_000);

const READY_MS = 120_000;
const STACK_FRAME = /^\s+at .+\(.+:\d+:\d+\)$/m;

describe('start-up', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowgpt-startup-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    await stopAllCommands();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  /** Starts the server, waits until it answers, stops it, and returns everything it printed. */
  const startAndStop = async (env: Record<string, string>): Promise<string> => {
    const port = await freePort();
    const server = runServerSource({ DATA_DIR: tempDir(), ...env, PORT: String(port) });
    await waitForHttp(server, `http://127.0.0.1:${port}/healthz`, READY_MS);
    // The summary is written right after listen: wait for its last line before stopping.
    for (let i = 0; i < 100 && !/Upstream: /.test(server.output()); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    await server.stop();
    return server.output();
  };

  /** Runs a start that must fail, and returns its exit code and output. */
  const failedStart = async (server: Command) => {
    const { code } = await server.exited();
    return { code, output: server.output() };
  };

  it('prints the URL, the store with its path, the counts and a warning when nothing is configured; no route lines', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const server = runServerSource({ DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'log' });
    await waitForHttp(server, `http://127.0.0.1:${port}/healthz`, READY_MS);
    for (let i = 0; i < 100 && !/Nothing is configured/.test(server.output()); i++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    await server.stop();
    const output = server.output();

    expect(output).toContain(`Listening on http://localhost:${port}: OpenAI base URL http://localhost:${port}/v1`);
    expect(output).toContain(`Pool: 0 accounts loaded from the file store at ${dataDir}`);
    expect(output).toContain('Pool keys (AUTHORIZATION): none set');
    expect(output).toMatch(
      /WARN\s+\[FlowGPT\] Nothing is configured yet \(no pool keys, no accounts\): send an AccessToken as the API key, or set ADMIN_KEY and add accounts at \/admin/,
    );
    expect(output).not.toMatch(/Mapped \{|RoutesResolver|InstanceLoader/);
    // A few lines, not a page of wiring.
    expect(output.trim().split('\n').length).toBeLessThanOrEqual(8);
  });

  it('shows the admin and sign-in URLs at PUBLIC_URL, the pool keys, warns about nothing, and lists the routes at LOG_LEVEL=debug', async () => {
    const output = await startAndStop({
      LOG_LEVEL: 'debug',
      ADMIN_KEY: 'startup-admin-key',
      AUTHORIZATION: 'key-one,key-two',
      ENABLE_GATEWAY: 'true',
      PUBLIC_URL: 'https://chat.example.test',
    });
    expect(output).toMatch(
      /Listening on http:\/\/localhost:\d+ \(public URL https:\/\/chat\.example\.test\): OpenAI base URL https:\/\/chat\.example\.test\/v1, admin at https:\/\/chat\.example\.test\/admin/,
    );
    expect(output).toContain('Browser sign-in at https://chat.example.test/auth/login');
    expect(output).toContain('Pool keys (AUTHORIZATION): 2 set');
    expect(output).not.toContain('Nothing is configured');
    expect(output).toMatch(/DEBUG \[RouterExplorer\] Mapped \{\/v1\/chat\/completions, POST\} route/);
    expect(output).not.toContain('key-one');
    expect(output).not.toContain('startup-admin-key');
  });

  it('a port in use: one line naming the port, exit code 1, no stack trace', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const { code, output } = await failedStart(runServerSource({ DATA_DIR: tempDir(), PORT: String(port) }));
      expect(code).toBe(1);
      expect(output).toContain(`Cannot start: Port ${port} is already in use`);
      expect(output.match(/EADDRINUSE|already in use/g)).toHaveLength(1);
      expect(output).not.toMatch(STACK_FRAME);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('an unreachable Redis: one line naming the URL with its password masked, exit code 1, no stack trace', async () => {
    const closedPort = await freePort();
    const url = `redis://:s3cret-redis-pass@127.0.0.1:${closedPort}`;
    const { code, output } = await failedStart(runServerSource({ REDIS_URL: url, PORT: String(await freePort()) }));
    expect(code).toBe(1);
    expect(output).toContain(`Cannot start: Redis is unreachable`);
    expect(output).toContain(`REDIS_URL=redis://***@127.0.0.1:${closedPort}`);
    expect(output.match(/ECONNREFUSED/g)).toHaveLength(1);
    expect(output).not.toContain('s3cret');
    expect(output).not.toMatch(STACK_FRAME);
  });

  // ioredis only reports a failed SELECT as an event and goes on in database 0, among whatever else lives there.
  it('a Redis database the server does not have: one line naming it, exit code 1, no stack trace', async () => {
    const url = 'redis://127.0.0.1:6379/99';
    const { code, output } = await failedStart(
      runServerSource({ REDIS_URL: url, REDIS_PREFIX: `startup-db-${process.pid}:`, DATA_DIR: tempDir(), PORT: String(await freePort()) }),
    );
    expect(code).toBe(1);
    expect(output).toContain(`Cannot start: Redis refuses database 99: ERR DB index is out of range (REDIS_URL=${url})`);
    expect(output).not.toMatch(STACK_FRAME);
  });

  it('a DATA_DIR another server uses: one line saying so, exit code 1, and the first server keeps its pool', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const first = runServerSource({ DATA_DIR: dataDir, PORT: String(port) });
    await waitForHttp(first, `http://127.0.0.1:${port}/healthz`, READY_MS);
    const { code, output } = await failedStart(runServerSource({ DATA_DIR: dataDir, PORT: String(await freePort()) }));
    expect(code).toBe(1);
    expect(output).toContain(`Cannot start: DATA_DIR ${dataDir} is in use by another FlowGPT (pid `);
    expect(output).not.toMatch(STACK_FRAME);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    // Once the first has stopped, the folder is free again.
    await first.stop();
    const again = await startAndStop({ DATA_DIR: dataDir });
    expect(again).toContain(`Listening on http://localhost:`);
  });

  it('a data file with a broken record: one line naming the file, exit code 1, the file left as it was', async () => {
    const dataDir = tempDir();
    const broken = JSON.stringify({ version: 1, accounts: [null] });
    writeFileSync(join(dataDir, 'accounts.json'), broken);
    const { code, output } = await failedStart(runServerSource({ DATA_DIR: dataDir, PORT: String(await freePort()) }));
    expect(code).toBe(1);
    expect(output).toContain(`Cannot start: ${join(dataDir, 'accounts.json')} cannot be read (account 1 has no valid id`);
    expect(output).not.toMatch(STACK_FRAME);
    expect(readFileSync(join(dataDir, 'accounts.json'), 'utf8')).toBe(broken);
  });

  it('a DATA_DIR that cannot hold files, or a CA file that cannot be read: one line each, exit code 1, no stack trace', async () => {
    const aFile = join(tempDir(), 'not-a-folder');
    writeFileSync(aFile, 'a file where the folder should be');
    for (const dataDir of [aFile, join(aFile, 'below')]) {
      const { code, output } = await failedStart(runServerSource({ DATA_DIR: dataDir, PORT: String(await freePort()) }));
      expect(code).toBe(1);
      expect(output).toMatch(new RegExp(`Cannot start: DATA_DIR ${dataDir} cannot be used \\((EEXIST|ENOTDIR): a file is in the way\\)`));
      expect(output).not.toMatch(STACK_FRAME);
    }
    const missing = join(tempDir(), 'missing-ca.pem');
    const { code, output } = await failedStart(
      runServerSource({ DATA_DIR: tempDir(), UPSTREAM_CA_FILE: missing, PORT: String(await freePort()) }),
    );
    expect(code).toBe(1);
    expect(output).toContain(`Cannot start: UPSTREAM_CA_FILE=${missing} cannot be read (ENOENT)`);
    expect(output).not.toMatch(STACK_FRAME);
  });

  it('a bad value in .env: one line naming the variable, exit code 1, no stack trace', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, '.env'), 'RETRY_TIMES=lots\n');
    const { code, output } = await failedStart(runServerSource({ DATA_DIR: tempDir() }, cwd));
    expect(code).toBe(1);
    expect(output.trim()).toBe('Configuration error: RETRY_TIMES="lots" is not an integer');
  });
});

describe.each([
  ['on one DATA_DIR', () => undefined],
  [
    // Both read the file and find its server gone: only one of them may take the folder over.
    'over the owner file of a server that crashed',
    (dataDir: string) =>
      writeFileSync(join(dataDir, 'flowgpt.pid'), JSON.stringify({ pid: spawnSync(process.execPath, ['-e', '0']).pid, host: hostname() })),
  ],
])('two servers started at the same moment %s', (_, prepare: (dataDir: string) => void) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'flowgpt-startup-race-'));
  afterAll(async () => {
    await stopAllServers();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('only one serves; the other stops with the one line that names the folder in use', async () => {
    prepare(dataDir);
    const starts = await Promise.allSettled([startServer({ DATA_DIR: dataDir }), startServer({ DATA_DIR: dataDir })]);
    const serving = starts.filter((start) => start.status === 'fulfilled');
    const refused = starts.filter((start) => start.status === 'rejected');
    expect(serving).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(String(refused[0].reason)).toContain(
      `Cannot start: DATA_DIR ${dataDir} is in use by another FlowGPT (pid ${serving[0].value.child.pid})`,
    );
    expect((await fetch(`${serving[0].value.url}/healthz`)).status).toBe(200);
  });
});
