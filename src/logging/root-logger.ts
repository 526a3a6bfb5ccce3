import type { FactoryProvider } from '@nestjs/common';
import pino, { type Logger } from 'pino';
import { AppConfig } from '../config/app-config';
import { logDestination, pinoOptions } from './log-format';

/** Nest provider token of the process's one pino logger (`LOG_LEVEL`, `LOG_FORMAT`). */
export const ROOT_LOGGER = 'ROOT_LOGGER';

export function createRootLogger(config: AppConfig): Logger {
  return pino(pinoOptions(config.logLevel), logDestination(config.logFormat));
}

export const rootLoggerProvider: FactoryProvider<Logger> = {
  provide: ROOT_LOGGER,
  inject: [AppConfig],
  useFactory: createRootLogger,
};
