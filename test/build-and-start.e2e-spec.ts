import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PROJECT_ROOT, runCommand, stopAllCommands, waitForHttp } from './support/command';
import { freePort, http } from './support/process';

/**
 * "Every start works" (issue 9): `npm run build` (tsc, type-checked) twice leaves a runnable dist/; `npm start`
 * (`nest start` with the swc builder: the whole tree in about a second, so no restart waits for a compile) works
 * every time, serves a changed source at once, and recovers from a build interrupted half-way.
 * Runs in a copy of the repository (its files + a symlinked node_modules), as a fresh clone would.
 * A tsc build takes from 15 s to minutes on a busy machine: the time limits are generous on purpose.
 */
jest.setTimeout(1_200_000);

const COMMAND_MS = 600_000;
const READY_MS = 180_000;
const SWC_COMPILED = /Successfully compiled: \d+ files with swc/;

describe('build and start in a fresh copy', () => {
  const copy = mkdtempSync(join(tmpdir(), 'flowgpt-start-'));
  const dataDir = mkdtempSync(join(tmpdir(), 'flowgpt-start-data-'));

  beforeAll(() => {
    const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: PROJECT_ROOT, encoding: 'utf8' })
      .split('\n')
      .filter((file) => file && file !== 'node_modules' && existsSync(join(PROJECT_ROOT, file)));
    for (const file of files) {
      mkdirSync(dirname(join(copy, file)), { recursive: true });
      cpSync(join(PROJECT_ROOT, file), join(copy, file));
    }
    symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(copy, 'node_modules'));
  });
  afterAll(async () => {
    await stopAllCommands();
    rmSync(copy, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  const npm = (args: string[], env: Record<string, string> = {}) =>
    runCommand('npm', args, { cwd: copy, env: { DATA_DIR: dataDir, npm_config_update_notifier: 'false', ...env } });

  /** Runs an npm script to its end and expects success. */
  const npmRun = async (script: string) => {
    const command = npm(['run', script]);
    const result = await Promise.race([
      command.exited(),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`npm run ${script} did not finish:\n${command.output()}`)), COMMAND_MS).unref(),
      ),
    ]);
    expect({ script, ...result, output: result.code === 0 ? '' : command.output() }).toEqual({ script, code: 0, signal: null, output: '' });
    return command.output();
  };

  /** Starts an npm script that serves, waits until it answers, stops it; returns what it printed. */
  const serveOnce = async (script: string) => {
    const port = await freePort();
    const server = npm(script === 'start' ? ['start'] : ['run', script], { PORT: String(port) });
    await waitForHttp(server, `http://127.0.0.1:${port}/healthz`, COMMAND_MS + READY_MS);
    await server.stop();
    return server.output();
  };

  /**
   * Starts an npm script that serves, then sends SIGTERM to npm alone, as a process manager does: the server must get
   * it, drain and exit, rather than be left running (a shell between npm and node does not pass signals on).
   */
  const stopThroughNpm = async (script: string) => {
    const port = await freePort();
    const server = npm(script === 'start' ? ['start'] : ['run', script], { PORT: String(port) });
    await waitForHttp(server, `http://127.0.0.1:${port}/healthz`, COMMAND_MS + READY_MS);
    process.kill(server.child.pid!, 'SIGTERM');
    await server.exited();
    // The server has drained and exited: its shutdown line is printed, and the port no longer answers.
    const deadline = Date.now() + READY_MS;
    while (!server.output().includes('SIGTERM: no longer accepting connections') && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.output()).toContain('SIGTERM: no longer accepting connections');
    let answered = true;
    while (answered && Date.now() < deadline) {
      answered = await http('GET', `http://127.0.0.1:${port}/healthz`, { timeoutMs: 2_000 }).then(
        () => true,
        () => false,
      );
      if (answered) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(answered).toBe(false);
    await server.stop('SIGKILL');
  };

  it('a SIGTERM to npm reaches the server it started, with npm start and npm run start:prod', async () => {
    await npmRun('build');
    await stopThroughNpm('start:prod');
    await stopThroughNpm('start');
  });

  it('npm run build twice leaves a runnable dist/ (no build info left outside it)', async () => {
    await npmRun('build');
    await npmRun('build');
    expect(existsSync(join(copy, 'dist', 'main.js'))).toBe(true);
    expect(readdirSync(copy).filter((name) => name.endsWith('.tsbuildinfo'))).toEqual([]);
    expect(await serveOnce('start:prod')).toContain('Listening on http://localhost:');
  });

  it('npm start twice in a row: both compile with swc and serve', async () => {
    for (let run = 0; run < 2; run++) {
      const output = await serveOnce('start');
      expect(output).toMatch(SWC_COMPILED);
      expect(output).toContain('Listening on http://localhost:');
    }
  });

  it('npm start after a source changed serves the change', async () => {
    const summary = join(copy, 'src', 'common', 'startup', 'startup-summary.ts');
    const original = readFileSync(summary, 'utf8');
    writeFileSync(summary, original.replace('Listening on', 'Now listening on'));
    try {
      expect(await serveOnce('start')).toContain('Now listening on http://localhost:');
    } finally {
      // The copy is shared by the next test, which looks for the original line.
      writeFileSync(summary, original);
    }
  });

  it('npm start and npm run build work after a build killed half-way', async () => {
    const build = npm(['run', 'build']);
    // nest build first empties dist/ and copies the JSON assets, then compiles: stop it in between.
    const asset = join(copy, 'dist', 'chat', 'models', 'model-table.json');
    const deadline = Date.now() + COMMAND_MS;
    while (!existsSync(asset) || existsSync(join(copy, 'dist', 'main.js'))) {
      if (Date.now() > deadline) throw new Error(`The build never reached its compile step:\n${build.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await build.stop('SIGKILL');
    expect(existsSync(join(copy, 'dist', 'main.js'))).toBe(false);

    expect(await serveOnce('start')).toContain('Listening on http://localhost:');
    await npmRun('build');
    expect(await serveOnce('start:prod')).toContain('Listening on http://localhost:');
  });
});
