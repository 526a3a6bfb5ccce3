import { Controller, Get, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
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

  @Get('metrics')
  @MetricsAccess()
  async scrape(@Req() _request: Request, @Res() response: Response): Promise<void> {
    const text = await this.metrics.render({ pool: await this.pool.counts(), openStreams: this.openStreams.size });
    response.setHeader('Content-Type', this.metrics.contentType);
    response.setHeader('Cache-Control', 'no-store');
    response.send(text);
  }
}
