import { Global, MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { AppLogger } from './app-logger';
import { EVERY_PATH } from '../common/http/route-of';
import { RequestLogMiddleware } from './request-log.middleware';
import { rootLoggerProvider } from './root-logger';

/**
 * Structured logs through pino (`LOG_LEVEL`, `LOG_FORMAT`): Nest's logger goes through it (`AppLogger`), and
 * every request gets one line with its method, route pattern, status, duration and masked identity
 * (`RequestLogMiddleware`), whose `reqId` every other line logged while serving it carries too (`request-scope.ts`).
 * No per-request logger, and one AsyncLocalStorage run per request, only while request lines are written: on Node 20
 * it turns on promise hooks, which every promise pays for.
 */
@Global()
@Module({
  providers: [rootLoggerProvider, AppLogger],
  exports: [AppLogger],
})
export class LoggingModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(RequestLogMiddleware).forRoutes({ path: EVERY_PATH, method: RequestMethod.ALL });
  }
}
