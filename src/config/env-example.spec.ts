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

  it('shows the defaults: reading it gives the same configuration as an empty environment', () => {
    expect(loadConfig(example)).toEqual(loadConfig({}));
  });
});
