import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** The temp name a write of `target` uses: `<target>.<pid>.<random>.tmp`, beside it. */
function tempNameFor(target: string): string {
  return `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
}

/** Whether `name` (a file name, not a path) is the temp file of an interrupted write of the file named `target`. */
export function isTempOf(name: string, target: string): boolean {
  return name.startsWith(`${target}.`) && name.endsWith('.tmp');
}

/**
 * Replaces `target` with `content` so that a crash at any point leaves either the old file or the new one whole:
 * a temp file beside it (mode 0600: these files hold tokens and sign-ins), fsync, rename over, fsync the folder.
 */
export async function writeFileAtomically(target: string, content: string | Uint8Array): Promise<void> {
  const temp = tempNameFor(target);
  try {
    const file = await open(temp, 'w', 0o600);
    try {
      await file.writeFile(content);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  const dir = await open(dirname(target), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
