import { Controller, Get, Header } from '@nestjs/common';
import type { PoolReadiness } from '../token-pool/pool.types';
import { PoolReadModel } from '../token-pool/pool-read-model';

/** For load balancers and container health checks. */
@Controller()
export class HealthController {
  constructor(private readonly pool: PoolReadModel) {}

  /** Liveness: the process is up and serving; it never asks the store, so a Redis outage does not get the process restarted. */
  @Get('healthz')
  @Header('Cache-Control', 'no-store')
  health(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /**
   * Readiness: 200 with the pool's counts when the account store answers; 503 `store_unavailable` (the API's
   * error shape) when it does not, so that a load balancer sends requests to another instance meanwhile.
   */
  @Get('readyz')
  @Header('Cache-Control', 'no-store')
  async ready(): Promise<{ status: 'ready' } & PoolReadiness> {
    return { status: 'ready', ...(await this.pool.readiness()) };
  }
}
