import { Inject, Injectable } from '@nestjs/common';
import { Logger, Params, PARAMS_PROVIDER_TOKEN, PinoLogger } from 'nestjs-pino';
import { isReportedByMain, WIRING_CONTEXTS } from '../common/logging/boot-logger';

/** Nest's `LoggerService` through pino (`app.useLogger`), with Nest's wiring lines demoted to debug
 * and start problems left to `main.ts`'s one line (the same rules as `BootLogger`). */
@Injectable()
export class AppLogger extends Logger {
  constructor(logger: PinoLogger, @Inject(PARAMS_PROVIDER_TOKEN) params: Params) {
    super(logger, params);
  }

  override log(message: unknown, ...optionalParams: unknown[]): void {
    const context = optionalParams[optionalParams.length - 1];
    if (typeof context === 'string' && WIRING_CONTEXTS.has(context)) this.debug(message, ...optionalParams);
    else super.log(message, ...optionalParams);
  }

  override error(message: unknown, ...optionalParams: unknown[]): void {
    if (isReportedByMain(message, optionalParams[optionalParams.length - 1])) return;
    super.error(message, ...optionalParams);
  }
}
