import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StartProblem } from '../common/startup/start-problem';
import { AppConfig } from '../config/app-config';
import { ChromiumClearanceSolver } from './chromium-clearance.solver';

describe('ChromiumClearanceSolver at start-up', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'flowgpt-chromium-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const solver = (cfClearance: 'off' | 'chromium', chromiumPath: string) =>
    new ChromiumClearanceSolver(Object.assign(new AppConfig(), { cfClearance, chromiumPath }));
  const refusal = (path: string, problem: string) =>
    new StartProblem(
      `CHROMIUM_PATH=${path} ${problem}, and CF_CLEARANCE=chromium launches it: install Chromium (Debian: apt-get install chromium), ` +
        'set CHROMIUM_PATH to its executable, or set CF_CLEARANCE=off',
    );

  it('stops the start when the helper is on and CHROMIUM_PATH names no executable file', () => {
    const missing = join(dir, 'chromium');
    expect(() => solver('chromium', missing).onModuleInit()).toThrow(refusal(missing, 'does not exist'));
    expect(() => solver('chromium', dir).onModuleInit()).toThrow(refusal(dir, 'is not a file'));
  });

  it('starts with an executable file, and with the helper off whatever CHROMIUM_PATH says', () => {
    const executable = join(dir, 'chromium');
    writeFileSync(executable, '#!/bin/sh\n');
    chmodSync(executable, 0o755);
    expect(() => solver('chromium', executable).onModuleInit()).not.toThrow();
    expect(() => solver('off', join(dir, 'missing')).onModuleInit()).not.toThrow();
  });
});
