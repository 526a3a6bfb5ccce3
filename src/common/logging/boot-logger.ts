import { ConsoleLogger, type LogLevel } from '@nestjs/common';
import { StartProblem } from '../startup/start-problem';

/** Nest's wiring chatter at start-up ("Mapped {…} route", "dependencies initialized"): useful only when debugging. */
export const WIRING_CONTEXTS = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory', 'NestApplication']);

/**
 * Nest's console logger with LOG_LEVEL, made readable at start-up: Nest's own wiring lines are logged at
 * `debug` instead of `log`, and a start problem (a busy port, an unreachable Redis) is not printed here with
 * its stack, because `main.ts` reports it as one line. It logs until pino takes over (`AppLogger`, same two rules).
 */
export class BootLogger extends ConsoleLogger {
  constructor(logLevels: LogLevel[]) {
    super({ logLevels });
  }

  override log(message: unknown, ...rest: unknown[]): void {
    if (WIRING_CONTEXTS.has(String(rest.at(-1)))) super.debug(message, ...rest);
    else super.log(message, ...rest);
  }

  override error(message: unknown, ...rest: unknown[]): void {
    if (isReportedByMain(message, rest.at(-1))) return;
    super.error(message, ...rest);
  }
}

/** A StartProblem thrown while the modules are built, or the listen failure NestApplication logs as text. */
export function isReportedByMain(message: unknown, context: unknown): boolean {
  if (message instanceof StartProblem) return true;
  return context === 'NestApplication' && typeof message === 'string' && /^Error: listen E[A-Z]+:/.test(message);
}
