#!/usr/bin/env node
'use strict';
/**
 * `npm run build`: a clean `nest build` of src/ into dist/, then a stamp of the sources it was built from.
 * `npm start` runs this with `--if-stale` first: when the stamp still matches the sources (and dist/main.js is
 * there) it skips the compile, so a restart of an unchanged tree starts at once.
 *
 * The stamp is the path, size and modification time of every file the build reads (src/, the tsconfig files,
 * nest-cli.json, package.json, package-lock.json). It is computed before compiling and written only after a
 * successful build, so an interrupted or failed build leaves no stamp and the next start builds again.
 * Plain Node on purpose: it must run before anything is compiled.
 */
const { spawnSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } = require('node:fs');
const { join, relative } = require('node:path');

const ROOT = join(__dirname, '..');
const DIST = join(ROOT, 'dist');
const STAMP = join(DIST, '.source-stamp');
const INPUTS = ['src', 'tsconfig.json', 'tsconfig.build.json', 'nest-cli.json', 'package.json', 'package-lock.json'];

function listFiles(path) {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => listFiles(join(path, entry.name)));
}

function sourceStamp() {
  const hash = createHash('sha256');
  for (const file of INPUTS.flatMap((input) => listFiles(join(ROOT, input)))) {
    const { size, mtimeMs } = statSync(file);
    hash.update(`${relative(ROOT, file)}\0${size}\0${mtimeMs}\n`);
  }
  return hash.digest('hex');
}

function isUpToDate(stamp) {
  if (!existsSync(join(DIST, 'main.js')) || !existsSync(STAMP)) return false;
  return readFileSync(STAMP, 'utf8').trim() === stamp;
}

function main() {
  const stamp = sourceStamp();
  if (process.argv.includes('--if-stale') && isUpToDate(stamp)) {
    console.log('dist/ matches the sources: starting without a rebuild');
    return;
  }
  rmSync(STAMP, { force: true });
  console.log('Building src/ into dist/ (nest build)…');
  const nest = require.resolve('@nestjs/cli/bin/nest.js', { paths: [ROOT] });
  const result = spawnSync(process.execPath, [nest, 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`nest build failed (${result.signal ?? `exit code ${result.status}`})`);
    process.exit(result.status || 1);
  }
  writeFileSync(STAMP, `${stamp}\n`);
}

main();
