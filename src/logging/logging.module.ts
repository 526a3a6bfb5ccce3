import { Global, MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import { trackRequestFacts } from '../common/request-context';
import { AppConfig } from '../config/app-config';
import { AppLogger } from './app-logger';
import { logDestination, pinoOptions } from './log-format';
import { EVERY_PATH, requestLogFields, requestLogMessage } from './request-log';

/**
 * Structured logs through pino (`LOG_LEVEL`, `LOG_FORMAT`): Nest's logger goes through it (`AppLogger`), and
 * every answered request gets one line with its method, route pattern, status, duration and masked identity.
 */
@Global()
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        pinoHttp: [
          {
            ...pinoOptions(config.logLevel),
            quietReqLogger: true,
            quietResLogger: true,
            customLogLevel: (_request: IncomingMessage, response: ServerResponse, error?: Error) =>
              error || response.statusCode >= 500 ? 'warn' : 'info',
            customSuccessObject: (request: IncomingMessage, response: ServerResponse, value: { responseTime: number }) =>
              requestLogFields(request, response, value.responseTime),
            customSuccessMessage: (request: IncomingMessage, response: ServerResponse, responseTime: number) =>
              requestLogMessage(requestLogFields(request, response, responseTime)),
            customErrorObject: (request: IncomingMessage, response: ServerResponse, error: Error, value: { responseTime: number }) => ({
              ...requestLogFields(request, response, value.responseTime),
              error: error.message,
            }),
            customErrorMessage: (request: IncomingMessage, response: ServerResponse, _error: Error, responseTime?: number) =>
              requestLogMessage(requestLogFields(request, response, responseTime ?? 0)),
          },
          logDestination(config.logFormat),
        ],
        forRoutes: [{ path: EVERY_PATH, method: RequestMethod.ALL }],
      }),
    }),
  ],
  providers: [AppLogger],
  exports: [AppLogger],
})
export class LoggingModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(trackRequestFacts).forRoutes({ path: EVERY_PATH, method: RequestMethod.ALL });
  }
}
