import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { ENV_VARIABLES } from './app-config';
import { loadConfig } from './load-config';

/** `.env.example` is the configuration reference: it must list every variable, each with its real default. */
describe('.env.example', () => {
  const example = parseEnv(readFileSync(join(__dirname, '..', '..', '.env.example'), 'utf8'));

  it('lists every variable the configuration reads', () => {
    const missing = Object.values(ENV_VARIABLES)
      .map((variable) => variable.env)
      .filter((name) => !(name in example));
    expect(missing).toEqual([]);
  });

  // A variable dropped from the code, or renamed, must leave both documents too: neither may list a name nothing reads.
  it('lists no variable the configuration does not read, and the README tables name the same set', () => {
    const read = new Set(Object.values(ENV_VARIABLES).map((variable) => variable.env));
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    const rows = [...readme.matchAll(/^\| `([A-Z][A-Z0-9_]*)` +\|/gm)].map(([, name]) => name);
    expect(Object.keys(example).filter((name) => !read.has(name))).toEqual([]);
    expect(rows.filter((name) => !read.has(name))).toEqual([]);
    expect(rows.filter((name, index) => rows.indexOf(name) !== index)).toEqual([]);
    expect([...rows].sort()).toEqual(Object.keys(example).sort());
  });

  it('shows the defaults: reading it gives the same configuration as an empty environment', () => {
    expect(loadConfig(example)).toEqual(loadConfig({}));
  });

  // A newcomer reads the README first: each variable has a row there, with the default `.env.example` shows.
  it("gives every variable a row of the README's tables with the same default", () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    const documented = new Map([...readme.matchAll(/^\| `([A-Z0-9_]+)` +\| ([^|]*?) +\|/gm)].map(([, name, value]) => [name, value]));
    const rows = Object.values(ENV_VARIABLES).map(({ env }) => [env, documented.get(env)]);
    const expected = Object.values(ENV_VARIABLES).map(({ env }) => [env, example[env] ? `\`${example[env]}\`` : 'empty']);
    expect(rows).toEqual(expected);
  });
});
