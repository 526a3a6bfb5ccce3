import { Inject, Injectable, type LoggerService } from '@nestjs/common';
import type { Level, Logger } from 'pino';
import { StartProblem } from '../common/startup/start-problem';
import { ROOT_LOGGER } from './root-logger';

/** Nest's wiring chatter at start-up ("Mapped {…} route", "dependencies initialized"): useful only when debugging. */
const WIRING_CONTEXTS = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory', 'NestApplication']);

/** A StartProblem thrown while the modules are built, or the listen failure NestApplication logs as text. */
function isReportedByMain(message: unknown, context: unknown): boolean {
  if (message instanceof StartProblem) return true;
  return context === 'NestApplication' && typeof message === 'string' && /^Error: listen E[A-Z]+:/.test(message);
}

/**
 * Nest's `LoggerService` through pino (`app.useLogger`): the context (Nest's last parameter) becomes the
 * `context` field, an Error the `err` field, an object message more fields. Nest's wiring lines are demoted
 * to debug and start problems left to `main.ts`'s one line.
 */
@Injectable()
export class AppLogger implements LoggerService {
  constructor(@Inject(ROOT_LOGGER) private readonly logger: Logger) {}

  log(message: unknown, ...optionalParams: unknown[]): void {
    const context = optionalParams[optionalParams.length - 1];
    this.write(typeof context === 'string' && WIRING_CONTEXTS.has(context) ? 'debug' : 'info', message, optionalParams);
  }

  error(message: unknown, ...optionalParams: unknown[]): void {
    if (isReportedByMain(message, optionalParams[optionalParams.length - 1])) return;
    this.write('error', message, optionalParams);
  }

  warn(message: unknown, ...optionalParams: unknown[]): void {
    this.write('warn', message, optionalParams);
  }

  debug(message: unknown, ...optionalParams: unknown[]): void {
    this.write('debug', message, optionalParams);
  }

  verbose(message: unknown, ...optionalParams: unknown[]): void {
    this.write('trace', message, optionalParams);
  }

  fatal(message: unknown, ...optionalParams: unknown[]): void {
    this.write('fatal', message, optionalParams);
  }

  private write(level: Level, message: unknown, optionalParams: unknown[]): void {
    if (!this.logger.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = {};
    let args = optionalParams;
    if (optionalParams.length > 0) {
      fields.context = optionalParams[optionalParams.length - 1];
      args = optionalParams.slice(0, -1);
    }
    if (typeof message === 'object') {
      if (message instanceof Error) fields.err = message;
      else Object.assign(fields, message);
      this.logger[level](fields, ...(args as [string?, ...unknown[]]));
    } else if (level === 'error' && isExceptionHandlerStack(message, args)) {
      // Nest's exception handlers call `error(message, stack, context)`: one error with that stack.
      const error = new Error(message);
      error.stack = args[0] as string;
      fields.err = error;
      this.logger.error(fields);
    } else {
      this.logger[level](fields, message as string, ...args);
    }
  }
}

function isExceptionHandlerStack(message: unknown, args: unknown[]): message is string {
  return typeof message === 'string' && args.length === 1 && typeof args[0] === 'string' && /\n\s*at /.test(args[0]);
}
