import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { StartProblem } from '../../common/startup/start-problem';
import { processIdentity } from './data-dir-owner';
import { FileAccountStore } from './file-account-store';

const OWNER_FILE = 'flowgpt.pid';

/**
 * Runs once, at the moment the owner file first exists under its own name: what a second start that reaches the
 * folder just then does. A write in place creates the file empty and fills it a moment later (its open, then its
 * write); a link makes it appear whole.
 */
let onOwnerFileAppears: (() => Promise<void>) | undefined;
async function ownerFileAppeared(path: string): Promise<void> {
  if (basename(path) !== OWNER_FILE || !onOwnerFileAppears) return;
  const hook = onOwnerFileAppears;
  onOwnerFileAppears = undefined;
  await hook();
}

jest.mock('node:fs/promises', () => {
  const actual = jest.requireActual<typeof import('node:fs/promises')>('node:fs/promises');
  return {
    ...actual,
    writeFile: async (...args: Parameters<typeof actual.writeFile>) => {
      const [path, content, options] = args;
      const flag = typeof options === 'object' && options !== null ? options.flag : undefined;
      if (typeof path !== 'string' || basename(path) !== OWNER_FILE || flag !== 'wx') return actual.writeFile(...args);
      const file = await actual.open(path, 'wx', 0o600);
      try {
        await ownerFileAppeared(path);
        await file.writeFile(content as string);
      } finally {
        await file.close();
      }
    },
    link: async (existing: string, target: string) => {
      await actual.link(existing, target);
      await ownerFileAppeared(target);
    },
  };
});

describe('FileAccountStore: two starts on one DATA_DIR at the same moment', () => {
  let dataDir: string;
  beforeEach(async () => (dataDir = await mkdtemp(join(tmpdir(), 'flowgpt-claim-'))));
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  /** Runs `work` as a process with another pid would (the store names itself by `process.pid`). */
  async function asAnotherProcess<T>(work: () => Promise<T>): Promise<T> {
    const own = Object.getOwnPropertyDescriptor(process, 'pid')!;
    Object.defineProperty(process, 'pid', { ...own, value: process.pid + 100_000 });
    try {
      return await work();
    } finally {
      Object.defineProperty(process, 'pid', own);
    }
  }

  it('lets only the first one serve: the second reads who owns the folder and stops with one line', async () => {
    const first = new FileAccountStore({ dataDir });
    let second: Promise<unknown> | undefined;
    onOwnerFileAppears = async () => {
      second = asAnotherProcess(() => new FileAccountStore({ dataDir }).open()).then(
        () => 'opened',
        (error: unknown) => error,
      );
      await second;
    };

    await first.open();

    expect(await second).toEqual(
      new StartProblem(
        `DATA_DIR ${dataDir} is in use by another FlowGPT (pid ${process.pid}): stop it, give this one another DATA_DIR, or share one pool between instances with REDIS_URL`,
      ),
    );
    expect(JSON.parse(await readFile(join(dataDir, OWNER_FILE), 'utf8'))).toEqual(processIdentity(process.pid));
    await first.close();
  });
});
