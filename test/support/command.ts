import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { http } from './process';

export const PROJECT_ROOT = join(__dirname, '..', '..');
const OUTPUT_LIMIT = 2 * 1024 * 1024;

/** A command in its own process group (npm → sh → node), so that stopping it stops every process it started. */
export interface Command {
  readonly child: ChildProcess;
  /** stdout and stderr interleaved, so far. */
  output(): string;
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Signals the whole process group and waits for the command to exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<Command>();

/** The variables a command needs, and nothing of the test runner's environment (no stray LOG_LEVEL, PORT, .env values). */
export function minimalEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR, NO_COLOR: '1', ...env };
}

export function runCommand(command: string, args: string[], options: { cwd: string; env: Record<string, string> }): Command {
  const child = spawn(command, args, { cwd: options.cwd, env: minimalEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (output.length > OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const command_: Command = {
    child,
    output: () => output,
    exited: () => exit,
    stop: async (signal = 'SIGTERM') => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // the group is gone already
      }
      const result = await exit;
      // npm may exit before its children: make sure nothing of the group outlives the test.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // nothing left
      }
      running.delete(command_);
      return result;
    },
  };
  running.add(command_);
  void exit.then(() => running.delete(command_));
  return command_;
}

/** Kills every command still running (for afterAll). */
export async function stopAllCommands(): Promise<void> {
  await Promise.all([...running].map((command) => command.stop('SIGKILL')));
}

/** Waits until `url` answers over HTTP (any status); fails with the command's output if it exits or the time runs out. */
export async function waitForHttp(command: Command, url: string, timeoutMs: number): Promise<void> {
  let exitedWith: unknown;
  void command.exited().then((result) => (exitedWith = result));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exitedWith) throw new Error(`The command exited (${JSON.stringify(exitedWith)}) before ${url} answered:\n${command.output()}`);
    try {
      await http('GET', url, { timeoutMs: 2_000 });
      return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer in time:\n${command.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** `node -r ts-node/register src/main.ts` as `startServer` runs it, but from any working directory (to read its `.env`). */
export function runServerSource(env: Record<string, string>, cwd = PROJECT_ROOT): Command {
  return runCommand(process.execPath, ['-r', require.resolve('ts-node/register'), join(PROJECT_ROOT, 'src', 'main.ts')], {
    cwd,
    env: {
      TS_NODE_TRANSPILE_ONLY: 'true',
      TS_NODE_PROJECT: join(PROJECT_ROOT, 'tsconfig.json'),
      TS_NODE_COMPILER_OPTIONS: JSON.stringify({ module: 'commonjs', moduleResolution: 'node' }),
      ...env,
    },
  });
}
