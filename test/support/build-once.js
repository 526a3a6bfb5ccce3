// Jest globalSetup of the e2e and resilience projects: servers under test run the built output (`node dist/main.js`),
// so build it once per run, unless dist/main.js is already newer than every source file.
const { execFileSync } = require('node:child_process');
const { existsSync, readdirSync, rmSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..', '..');

function newestMtime(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((newest, name) => Math.max(newest, newestMtime(join(path, name))), stat.mtimeMs);
}

module.exports = async function buildOnce() {
  const entry = join(root, 'dist', 'main.js');
  const sources = Math.max(
    newestMtime(join(root, 'src')),
    ...['tsconfig.json', 'tsconfig.build.json'].map((name) => statSync(join(root, name)).mtimeMs),
  );
  if (existsSync(entry) && statSync(entry).mtimeMs > sources) return;
  // A full, non-incremental build: a stale *.tsbuildinfo could otherwise make tsc skip emitting into a fresh dist.
  rmSync(join(root, 'dist'), { recursive: true, force: true });
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--incremental', 'false'], {
    cwd: root,
    stdio: 'inherit',
  });
};
