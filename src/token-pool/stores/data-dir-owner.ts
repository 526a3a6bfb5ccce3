import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { StartProblem } from '../../common/startup/start-problem';

/** Names the process that owns `DATA_DIR`. */
const OWNER_FILE = 'flowgpt.pid';

/**
 * A process as an owner file names it. A pid alone is not enough: after a crash and a container restart the same small
 * pid is handed out again (to the new FlowGPT, to its `npm` wrapper, to anything), so where `/proc` tells them, the
 * boot and the moment the process started are kept too: a pid given to another process since has another start time.
 */
export interface ProcessIdentity {
  pid: number;
  host: string;
  /** `/proc/sys/kernel/random/boot_id`: new at every boot of the host (a container restart keeps the host's). */
  bootId?: string;
  /** Field 22 of `/proc/<pid>/stat`: when the process started, in clock ticks since the boot. */
  startedAt?: string;
}

/** How a start tells who it is and whether the process an owner file names still runs. */
export interface OwnerProbe {
  self(): ProcessIdentity;
  /** Whether the process an owner file of this host names still runs: that process, not one given its pid since. */
  runs(owner: ProcessIdentity): boolean | Promise<boolean>;
}

/** The probe of the running system; `procDir` is where `/proc` is (absent on macOS: pids alone then). */
export function systemOwnerProbe(procDir = '/proc'): OwnerProbe {
  return {
    self: () => processIdentity(process.pid, procDir),
    runs: (owner) => {
      // The parent started this process (`npm start`, `nest start`): it is not a FlowGPT that holds the folder.
      if (owner.pid === process.ppid || !pidRuns(owner.pid)) return false;
      const current = processIdentity(owner.pid, procDir);
      if (owner.bootId && current.bootId && owner.bootId !== current.bootId) return false;
      if (owner.startedAt && current.startedAt) return owner.startedAt === current.startedAt;
      return runsNode(owner.pid, procDir);
    },
  };
}

/** `pid` with what `/proc` tells of it; only the pid and the host where there is no `/proc`. */
export function processIdentity(pid: number, procDir = '/proc'): ProcessIdentity {
  const identity: ProcessIdentity = { pid, host: hostname() };
  const bootId = readProc(`${procDir}/sys/kernel/random/boot_id`)?.trim();
  // The command name (field 2) is in parentheses and may hold spaces and parentheses: fields are counted after the last one.
  const startedAt = readProc(`${procDir}/${pid}/stat`)?.split(')').pop()?.trim().split(' ')[19];
  if (bootId && startedAt) Object.assign(identity, { bootId, startedAt });
  return identity;
}

/**
 * One process per `DATA_DIR`: two would each keep their own copy of the pool and write it over the other's (uploads lost
 * at the next restart). Puts this process's owner file in `dir` and answers what it holds (to release it at the end),
 * or stops the start with one line naming the running process that owns the folder. An owner file left by a process
 * that is gone, by this pid, by another host (a shared volume cannot be checked: taken over with a warning) or
 * unreadable is taken over; of two starts that find the same such file at once, exactly one does (see `seize`). The
 * file is written whole under a temporary name, then linked in place: it never exists empty, so a second start at the
 * same moment always reads who owns the folder.
 */
export async function claimDataDir(dir: string, probe: OwnerProbe, warn: (line: string) => void): Promise<string> {
  const me = probe.self();
  const content = JSON.stringify(me);
  const path = join(dir, OWNER_FILE);
  const temp = `${path}.${me.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const holds = async (owner: ProcessIdentity | null): Promise<boolean> =>
    owner !== null && owner.host === me.host && owner.pid !== me.pid && (await probe.runs(owner));
  const onTakeOver = (owner: ProcessIdentity | null) => {
    if (owner && owner.host !== me.host)
      warn(`${path} names a process on host ${owner.host}; taking DATA_DIR over (two instances must not share it)`);
  };
  try {
    await writeFile(temp, content, { flag: 'wx', mode: 0o600 });
    const owner = await seize({ temp, content, holds, onTakeOver }, path);
    if (owner) {
      throw new StartProblem(
        `DATA_DIR ${dir} is in use by another FlowGPT (pid ${owner.pid}): stop it, give this one another DATA_DIR, ` +
          'or share one pool between instances with REDIS_URL',
      );
    }
    return content;
  } finally {
    await rm(temp, { force: true });
  }
}

/** Removes the owner file `claimDataDir` put in `dir`, if it is still this process's. */
export async function releaseDataDir(dir: string, content: string): Promise<void> {
  const path = join(dir, OWNER_FILE);
  if ((await readText(path)) === content) await rm(path, { force: true });
}

interface Claim {
  temp: string;
  content: string;
  holds: (owner: ProcessIdentity | null) => Promise<boolean>;
  onTakeOver: (owner: ProcessIdentity | null) => void;
}

/**
 * Links the claim at `path`, or answers the running process that holds it. A stale file there is removed only by the
 * start that holds its guard (a file named by a digest of what the stale one holds, created whole, so that one start
 * gets it), and only if the stale file is still there once the guard is held: two starts that both judged it stale
 * would otherwise each remove what is there, the second one the first one's fresh claim, and both serve. A guard left
 * by a start that crashed is stale in turn, and taken over the same way.
 */
async function seize(claim: Claim, path: string): Promise<ProcessIdentity | null> {
  for (;;) {
    try {
      await placeWhole(claim.temp, path, claim.content);
      return null;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const held = await readText(path);
    if (held === null) continue;
    const owner = parseOwner(held);
    if (await claim.holds(owner)) return owner!;
    const guard = `${path}.${createHash('sha256').update(held).digest('hex').slice(0, 16)}.takeover`;
    // Another start is taking the folder over this very moment: that one serves.
    const taker = await seize(claim, guard);
    if (taker) return taker;
    try {
      if ((await readText(path)) === held) {
        claim.onTakeOver(owner);
        await rm(path, { force: true });
      }
    } finally {
      await rm(guard, { force: true });
    }
  }
}

/** What link() answers where the file system has no hard links (FAT, exFAT, some FUSE and network mounts). */
const NO_HARD_LINKS = ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'];

/**
 * Puts the file in place whole by linking its temp copy, so that a start reaching the folder at that moment never reads
 * it empty; where the file system has no hard links, creates it in place (a second start may then read it empty).
 */
async function placeWhole(temp: string, path: string, content: string): Promise<void> {
  try {
    await link(temp, path);
  } catch (error) {
    if (!NO_HARD_LINKS.includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
    await writeFile(path, content, { flag: 'wx', mode: 0o600 });
  }
}

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

function parseOwner(text: string): ProcessIdentity | null {
  try {
    const { pid, host, bootId, startedAt } = JSON.parse(text) as Record<string, unknown>;
    if (typeof pid !== 'number' || typeof host !== 'string') return null;
    const owner: ProcessIdentity = { pid, host };
    if (typeof bootId === 'string' && typeof startedAt === 'string') Object.assign(owner, { bootId, startedAt });
    return owner;
  } catch {
    return null;
  }
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function pidRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * For an owner file without a start time (written by an older FlowGPT, or where there is no `/proc`): whether `pid` is
 * a Node process, as a FlowGPT is. Where there is no `/proc` to tell, any running process counts.
 */
function runsNode(pid: number, procDir: string): boolean {
  const cmdline = readProc(`${procDir}/${pid}/cmdline`);
  if (cmdline === undefined) return true;
  const program = cmdline.split('\0')[0];
  // Empty for a process that has ended but not been reaped, or a kernel thread.
  return program === process.execPath || /node/i.test(basename(program));
}
