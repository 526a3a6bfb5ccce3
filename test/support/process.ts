import { ChildProcess, spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';

const PROJECT_ROOT = join(__dirname, '..', '..');
const MAIN_SCRIPT = join(PROJECT_ROOT, 'dist', 'main.js');
/** Generous: a busy machine can take many seconds to start a Node process. */
const READY_TIMEOUT_MS = 90_000;
const READY_POLL_MS = 100;
/** Keeps failure messages readable: only the tail of a process's output is kept. */
const OUTPUT_LIMIT = 2 * 1024 * 1024;

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/** The real server (the built `dist/main.js`; the e2e projects build it once per run) in a child process. */
export interface ServerProcess {
  /** e.g. http://127.0.0.1:43210 */
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr interleaved), for assertions and failure messages. */
  output(): string;
  /** Resolves once the process has exited (at once if it already has). */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const running = new Set<ServerProcess>();

/** A port nobody listens on right now: listen on 0, read it, close. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Starts `node dist/main.js` with `env` on top of a minimal environment (nothing of the test runner's own
 * environment leaks in; the log is quiet, `LOG_LEVEL=warn`, unless `env` says otherwise) and waits until
 * `GET /v1/models` answers, whatever the status. `PORT` is chosen here unless `env` sets it. `nodeArgs` go before
 * the script (e.g. `--expose-gc`, `-r` a test preload).
 */
export async function startServer(
  env: Record<string, string>,
  options: { readyTimeoutMs?: number; nodeArgs?: string[] } = {},
): Promise<ServerProcess> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), MAIN_SCRIPT], {
    cwd: PROJECT_ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: process.env.TMPDIR,
      LOG_LEVEL: 'warn',
      // Only with REDIS_URL: a busy machine can take longer than the default 2 s to answer; outage tests set their own.
      REDIS_COMMAND_TIMEOUT_MS: '20000',
      ...env,
      PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (output.length > OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let hasExited = false;
  void exit.then(() => {
    hasExited = true;
  });

  const server: ServerProcess = {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    output: () => output,
    exited: () => exit,
    kill: async (signal = 'SIGTERM') => {
      if (!hasExited) child.kill(signal);
      await exit;
      running.delete(server);
    },
  };
  running.add(server);

  const deadline = Date.now() + (options.readyTimeoutMs ?? READY_TIMEOUT_MS);
  for (;;) {
    if (hasExited) {
      running.delete(server);
      throw new Error(`The server exited before it was ready (${JSON.stringify(await exit)}):\n${output}`);
    }
    if (await answers(`${server.url}/v1/models`)) return server;
    if (Date.now() > deadline) {
      await server.kill('SIGKILL');
      throw new Error(`The server did not answer on ${server.url} within the time limit:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
}

/** Kills every server this file started and that is still running (for afterAll). */
export async function stopAllServers(): Promise<void> {
  await Promise.all([...running].map((server) => server.kill('SIGKILL')));
}

/** A plain HTTP request; rejects only when no answer arrives (refused, reset, killed server). */
export function http(
  method: string,
  url: string,
  options: { headers?: Record<string, string>; json?: unknown; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const body = options.json === undefined ? undefined : Buffer.from(JSON.stringify(options.json));
    const req = httpRequest(
      url,
      {
        method,
        headers: { ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}), ...options.headers },
        timeout: options.timeoutMs ?? 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function answers(url: string): Promise<boolean> {
  try {
    await http('GET', url, { timeoutMs: 2_000 });
    return true;
  } catch {
    return false;
  }
}
