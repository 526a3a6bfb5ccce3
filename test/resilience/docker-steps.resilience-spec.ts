import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort, http } from '../support/process';

/**
 * The Dockerfile's steps without Docker (these machines cannot run it): the build context is the repository's
 * files, each stage is a directory standing for its /app, COPY and RUN are carried out as written, and the final
 * stage gets only production dependencies from the registry (`npm ci --omit=dev`). Then `CMD` must serve /healthz
 * and the `HEALTHCHECK` command must pass — so a runtime `require` of a devDependency, or a file the image
 * forgets to copy, fails here.
 *
 * The one liberty: the build stage's full `npm ci` is replaced by the already installed shared node_modules.
 */
jest.setTimeout(10 * 60_000);

const PROJECT_ROOT = join(__dirname, '..', '..');
const APP_DIR = '/app';

interface Stage {
  name?: string;
  lines: string[];
}

/** The Dockerfile's instructions per stage, continuation lines joined. */
function readDockerfile(): Stage[] {
  const text = readFileSync(join(PROJECT_ROOT, 'Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
  const stages: Stage[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) {
      expect(from[1]).toBe('node:20-bookworm-slim');
      stages.push({ name: from[2], lines: [] });
    } else stages[stages.length - 1].lines.push(line);
  }
  return stages;
}

/** The files `docker build .` would send: the repository's files, less what .dockerignore names at the top level. */
function buildContext(into: string): void {
  const ignored = readFileSync(join(PROJECT_ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#') && !line.startsWith('!') && !line.includes('*'));
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
  })
    .split('\0')
    .filter(Boolean)
    .filter((file) => !ignored.some((entry) => file === entry || file.startsWith(`${entry}/`)))
    .filter((file) => existsSync(join(PROJECT_ROOT, file)));
  for (const file of files) {
    mkdirSync(dirname(join(into, file)), { recursive: true });
    cpSync(join(PROJECT_ROOT, file), join(into, file));
  }
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): void {
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd} (${result.status}):\n${result.stdout}\n${result.stderr}`);
}

describe('Dockerfile steps (build stage, production-only runtime stage, CMD and HEALTHCHECK)', () => {
  let root: string;
  let server: ReturnType<typeof spawn> | undefined;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'flowgpt-docker-'));
  });
  afterAll(() => {
    server?.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  it('builds, installs production dependencies only, starts with CMD and passes the HEALTHCHECK', async () => {
    const context = join(root, 'context');
    buildContext(context);
    const stages = readDockerfile();
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const stageDirs = new Map<string, string>();
    let cmd: string[] | undefined;
    let healthcheck: string[] | undefined;
    let user: string | undefined;
    let exposed: string | undefined;
    const env: NodeJS.ProcessEnv = {};

    stages.forEach((stage, index) => {
      const dir = join(root, `stage-${index}`);
      mkdirSync(dir, { recursive: true });
      if (stage.name) stageDirs.set(stage.name, dir);
      const final = index === stages.length - 1;
      const inStage = (path: string) => (path.startsWith(`${APP_DIR}/`) ? join(dir, path.slice(APP_DIR.length + 1)) : join(dir, path));

      for (const line of stage.lines) {
        const [instruction, ...rest] = line.split(/\s+/);
        const argument = line.slice(instruction.length).trim();
        switch (instruction.toUpperCase()) {
          case 'WORKDIR':
            expect(argument).toBe(APP_DIR);
            break;
          case 'ENV':
            for (const [, key, value] of argument.matchAll(/(\w+)=(\S+)/g)) if (final) env[key] = value;
            break;
          case 'COPY': {
            const from = rest[0].startsWith('--from=') ? stageDirs.get(rest[0].slice('--from='.length)) : undefined;
            const parts = from ? rest.slice(1) : rest;
            const destination = parts[parts.length - 1];
            for (const source of parts.slice(0, -1)) {
              const sourcePath = from
                ? source.startsWith(`${APP_DIR}/`)
                  ? join(from, source.slice(APP_DIR.length + 1))
                  : join(from, source)
                : join(context, source);
              expect(existsSync(sourcePath)).toBe(true);
              const target = destination.endsWith('/') ? join(inStage(destination), source.split('/').pop()!) : inStage(destination);
              cpSync(sourcePath, target, { recursive: true });
            }
            break;
          }
          case 'RUN':
            for (const step of argument.split('&&').map((part) => part.trim())) {
              const words = step.split(/\s+/);
              if (step.startsWith('npm ci') && !words.includes('--omit=dev')) {
                // The build stage's full install: the shared, already installed toolchain stands in for it.
                symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
              } else if (step.startsWith('npm ci')) {
                run('npm', words.slice(1), dir, { ...process.env, NODE_ENV: 'production' });
              } else if (step === 'npm run build') {
                run('npm', ['run', 'build'], dir);
              } else if (step.startsWith('npm cache clean')) {
                // Would empty this machine's shared npm cache; it only makes the image smaller.
              } else if (words[0] === 'mkdir') {
                for (const path of words.slice(1).filter((word) => !word.startsWith('-'))) mkdirSync(inStage(path), { recursive: true });
              } else if (words[0] === 'chown') {
                // Ownership for the `node` user: nothing to do outside a container.
              } else {
                throw new Error(`The Dockerfile runs a step this test does not know yet: ${step}`);
              }
            }
            break;
          case 'USER':
            user = argument;
            break;
          case 'EXPOSE':
            exposed = argument;
            break;
          case 'HEALTHCHECK':
            healthcheck = JSON.parse(argument.slice(argument.indexOf('CMD') + 3).trim()) as string[];
            break;
          case 'CMD':
            cmd = JSON.parse(argument) as string[];
            break;
          case 'VOLUME':
          case 'LABEL':
          case 'ARG':
            break;
          default:
            throw new Error(`The Dockerfile uses an instruction this test does not know yet: ${line}`);
        }
      }
    });

    const runtime = join(root, `stage-${stages.length - 1}`);
    expect(user).toBe('node');
    expect(exposed).toBe('5005');
    expect(cmd).toEqual(['node', 'dist/main.js']);
    expect(healthcheck?.[0]).toBe('node');
    // Production dependencies only: no dev toolchain to lean on at run time.
    expect(existsSync(join(runtime, 'node_modules', '@nestjs', 'core'))).toBe(true);
    for (const devOnly of ['ts-node', 'typescript', '@nestjs/cli', 'jest'])
      expect(existsSync(join(runtime, 'node_modules', devOnly))).toBe(false);
    expect(existsSync(join(runtime, 'dist', 'main.js'))).toBe(true);

    const port = await freePort();
    const runEnv: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...env,
      PORT: String(port),
      DATA_DIR: join(runtime, 'data'),
      LOG_LEVEL: 'warn',
      ADMIN_KEY: 'docker-steps-admin-key',
      METRICS_ENABLED: 'true',
      CHATGPT_BASE_URL: 'http://127.0.0.1:9',
      AUTH_BASE_URL: 'http://127.0.0.1:9',
    };
    let output = '';
    server = spawn(cmd![0], cmd!.slice(1), { cwd: runtime, env: runEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    server.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => server!.once('exit', (code) => resolve(code)));

    const deadline = Date.now() + 60_000;
    let health: Awaited<ReturnType<typeof http>> | undefined;
    while (!health) {
      if (server.exitCode !== null) throw new Error(`node dist/main.js exited with ${server.exitCode}:\n${output}`);
      health = await http('GET', `http://127.0.0.1:${port}/healthz`, { timeoutMs: 2_000 }).catch(() => undefined);
      if (!health && Date.now() > deadline) throw new Error(`/healthz never answered:\n${output}`);
      if (!health) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(health.status).toBe(200);

    const probe = () => spawnSync(healthcheck![0], healthcheck!.slice(1), { env: runEnv, encoding: 'utf8', timeout: 30_000 });
    expect(probe().status).toBe(0);
    // The pages and the API need their views, static files and lazily loaded modules too.
    expect((await http('GET', `http://127.0.0.1:${port}/admin/login`)).status).toBe(200);
    expect((await http('GET', `http://127.0.0.1:${port}/static/flowgpt.js`)).status).toBe(200);
    expect(
      (await http('GET', `http://127.0.0.1:${port}/metrics`, { headers: { authorization: 'Bearer docker-steps-admin-key' } })).status,
    ).toBe(200);

    server.kill('SIGTERM');
    expect(await exited).toBe(0);
    // And the health check notices a server that is gone.
    expect(probe().status).toBe(1);
  });
});
