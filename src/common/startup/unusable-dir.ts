import { StartProblem } from './start-problem';

/**
 * A folder this process cannot keep its files in (not writable, a file in its place, a symbolic link that leads
 * nowhere, files another user made): one line, as a bad setting is. Any error of the file system counts; only an
 * unexpected error keeps its stack.
 */
export function unusableDir(dir: string, error: unknown, file?: string): unknown {
  const { code, message } = error as NodeJS.ErrnoException;
  // A read names no path in its error (EISDIR): the caller does.
  const path = file ?? (error as NodeJS.ErrnoException).path;
  const why: Record<string, string> = {
    EACCES: 'permission denied to this user',
    EPERM: 'permission denied to this user',
    EROFS: 'it is on a read-only file system',
    EEXIST: 'a file is in the way',
    ENOTDIR: 'a file is in the way',
    EISDIR: 'a folder is in the way',
    // mkdir with `recursive` creates every missing folder: what is still missing is where a symbolic link points.
    ENOENT: 'a symbolic link on the way points to nothing',
    ELOOP: 'symbolic links on the way point at each other',
    ENOSPC: 'the disk is full',
  };
  if (error instanceof StartProblem || !code) return error;
  const reason = why[code] ?? message.replace(`${code}: `, '');
  const where = path && path !== dir ? ` on ${path}` : '';
  return new StartProblem(
    `DATA_DIR ${dir} cannot be used (${code}${where}: ${reason}): fix the folder or its permissions (the user that runs FlowGPT ` +
      'must be able to read and write it and its files), or set DATA_DIR to a writable folder',
  );
}
