import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { StartProblem } from '../../common/startup/start-problem';
import { processIdentity, type OwnerProbe, type ProcessIdentity } from './data-dir-owner';
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

  /** A promise and what settles it (Node 20 has no Promise.withResolvers). */
  function deferred() {
    let resolve!: () => void;
    const promise = new Promise<void>((settle) => (resolve = settle));
    return { promise, resolve };
  }

  describe('over an owner file a crash left', () => {
    const CRASHED = { pid: 4_000_001, host: hostname() };
    const starts = [4_000_002, 4_000_003];

    /**
     * Two starts as two processes: each is its own pid, the other one runs, the crashed one does not. Each has read the
     * crashed one's file and judged it when `judged` resolves; `release(i)` lets start `i` go on from there.
     */
    function twoStarts() {
      const judged = starts.map(() => deferred());
      const gates = starts.map(() => deferred());
      const probe = (index: number): OwnerProbe => ({
        self: () => ({ pid: starts[index], host: hostname() }),
        runs: async (owner: ProcessIdentity) => {
          if (owner.pid !== CRASHED.pid) return starts.includes(owner.pid);
          judged[index].resolve();
          await gates[index].promise;
          return false;
        },
      });
      const opened = starts.map((_, index) =>
        new FileAccountStore({ dataDir, ownerProbe: probe(index) }).open().then(
          () => 'opened' as const,
          (error: unknown) => error,
        ),
      );
      return {
        judged: Promise.all(judged.map(({ promise }) => promise)),
        release: (index: number) => gates[index].resolve(),
        opened,
      };
    }

    it.each([
      ['one after the other', true],
      ['at once', false],
    ])('lets exactly one of two starts that both judged it stale take the folder over (%s)', async (_, oneAfterTheOther) => {
      await writeFile(join(dataDir, OWNER_FILE), JSON.stringify(CRASHED));
      const { judged, release, opened } = twoStarts();
      await judged;
      release(0);
      if (oneAfterTheOther) await opened[0];
      release(1);
      const results = await Promise.all(opened);

      const winner = results.indexOf('opened');
      expect(results.filter((result) => result === 'opened')).toHaveLength(1);
      expect(results[1 - winner]).toEqual(
        new StartProblem(
          `DATA_DIR ${dataDir} is in use by another FlowGPT (pid ${starts[winner]}): stop it, give this one another DATA_DIR, or share one pool between instances with REDIS_URL`,
        ),
      );
      expect(JSON.parse(await readFile(join(dataDir, OWNER_FILE), 'utf8'))).toEqual({ pid: starts[winner], host: hostname() });
      // Nothing of the takeover is left beside the data files.
      expect((await readdir(dataDir)).filter((name) => name.startsWith(OWNER_FILE))).toEqual([OWNER_FILE]);
    });

    it('takes the folder over past the guard of a start that crashed while taking it over', async () => {
      const crashedContent = JSON.stringify(CRASHED);
      await writeFile(join(dataDir, OWNER_FILE), crashedContent);
      const digest = createHash('sha256').update(crashedContent).digest('hex').slice(0, 16);
      await writeFile(join(dataDir, `${OWNER_FILE}.${digest}.takeover`), JSON.stringify({ pid: 4_000_004, host: hostname() }));
      const store = new FileAccountStore({ dataDir });
      await store.open();
      expect(JSON.parse(await readFile(join(dataDir, OWNER_FILE), 'utf8'))).toEqual(processIdentity(process.pid));
      expect((await readdir(dataDir)).filter((name) => name.startsWith(OWNER_FILE))).toEqual([OWNER_FILE]);
      await store.close();
    });
  });
});
