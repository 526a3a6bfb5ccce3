/**
 * A reason the server cannot start that the operator can fix (a busy port, an unreachable Redis, a bad
 * setting). `main.ts` prints its message as one line and exits with code 1; no stack trace, because the
 * trace would only bury the line that says what to change.
 */
export class StartProblem extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartProblem';
  }
}

/** The one line for a start problem, or undefined for an unexpected error (a bug: its stack is worth printing). */
export function startProblemLine(error: unknown): string | undefined {
  if (error instanceof StartProblem) return error.message;
  const { code, syscall, port } = (error ?? {}) as NodeJS.ErrnoException & { port?: number };
  if (syscall !== 'listen') return undefined;
  if (code === 'EADDRINUSE')
    return `Port ${port} is already in use (another FlowGPT, or another program): stop it or set PORT to a free port`;
  if (code === 'EACCES') return `Port ${port} may not be opened by this user (ports below 1024 need privileges): set PORT to 1024 or above`;
  return undefined;
}
