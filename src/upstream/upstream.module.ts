import { Global, Module } from '@nestjs/common';
import { MetricsModule } from '../metrics/metrics.module';
import { ProxyAgents } from './proxy-agents';
import { UpstreamClient } from './upstream.client';

@Global()
@Module({
  imports: [MetricsModule],
  providers: [ProxyAgents, UpstreamClient],
  exports: [UpstreamClient, ProxyAgents],
})
export class UpstreamModule {}
