import { Global, Module } from '@nestjs/common';
import { Clock, SystemClock } from '../common/vocabulary/clock';
import { MetricsModule } from '../metrics/metrics.module';
import { ChromiumClearanceSolver, ClearanceSolver } from './chromium-clearance.solver';
import { CloudflareClearance } from './cloudflare-clearance.service';
import { ProxyAgents } from './proxy-agents';
import { UpstreamClient } from './upstream.client';

@Global()
@Module({
  imports: [MetricsModule],
  providers: [
    { provide: Clock, useClass: SystemClock },
    ProxyAgents,
    UpstreamClient,
    CloudflareClearance,
    ChromiumClearanceSolver,
    { provide: ClearanceSolver, useExisting: ChromiumClearanceSolver },
  ],
  exports: [UpstreamClient, ProxyAgents],
})
export class UpstreamModule {}
