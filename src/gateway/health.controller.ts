import { Controller, Get, Header } from '@nestjs/common';

/** For load balancers and container health checks: the process is up and serving. */
@Controller()
export class HealthController {
  @Get('healthz')
  @Header('Cache-Control', 'no-store')
  health(): { status: 'ok' } {
    return { status: 'ok' };
  }
}
