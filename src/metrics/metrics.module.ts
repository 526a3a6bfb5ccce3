import { Global, MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { EVERY_PATH, routeOf } from '../common/http/route-of';
import { MetricsService } from './metrics.service';

/**
 * Prometheus metrics: `MetricsService` for every module to record into, and the request counter. `GET /metrics`
 * reads them in the admin module (it needs the pool and the admin secret, and this folder must not depend on either).
 */
@Global()
@Module({
  providers: [MetricsService],
  exports: [MetricsService],
})
export class MetricsModule implements NestModule {
  constructor(private readonly metrics: MetricsService) {}

  configure(consumer: MiddlewareConsumer): void {
    if (!this.metrics.enabled) return;
    const countRequests = (request: Request, response: Response, next: NextFunction): void => {
      // `close` alone covers clients that leave mid-answer; `finish` comes first when the answer was complete.
      let counted = false;
      const count = () => {
        if (counted) return;
        counted = true;
        this.metrics.recordHttpRequest(request.method, routeOf(request), response.statusCode);
      };
      response.once('finish', count);
      response.once('close', count);
      next();
    };
    consumer.apply(countRequests).forRoutes({ path: EVERY_PATH, method: RequestMethod.ALL });
  }
}
