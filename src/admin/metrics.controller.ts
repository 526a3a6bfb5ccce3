import { Controller, Get, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { StoreUnavailableError } from '../common/errors/store-unavailable.error';
import { OpenStreams } from '../common/lifecycle/open-streams.registry';
import { PoolReadModel } from '../token-pool/pool-read-model';
import { MetricsAccess } from './metrics-access.guard';
import { MetricsService } from '../metrics/metrics.service';

/** `GET /metrics`: Prometheus text for scrapers holding the admin secret (`METRICS_ENABLED=true`). */
@Controller()
export class MetricsController {
  constructor(
    private readonly metrics: MetricsService,
    private readonly pool: PoolReadModel,
    private readonly openStreams: OpenStreams,
  ) {}

  /** Every series but the pool's still comes while the store is down: the scrape must show the outage, not fail with it. */
  @Get('metrics')
  @MetricsAccess()
  async scrape(@Req() _request: Request, @Res() response: Response): Promise<void> {
    const pool = await this.pool.counts().catch((error: unknown) => {
      if (error instanceof StoreUnavailableError) return null;
      throw error;
    });
    const text = await this.metrics.render({ pool, openStreams: this.openStreams.size });
    response.setHeader('Content-Type', this.metrics.contentType);
    response.setHeader('Cache-Control', 'no-store');
    response.send(text);
  }
}
