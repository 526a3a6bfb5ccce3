import { Global, Module } from '@nestjs/common';
import { ProxyAgents } from './proxy-agents';
import { UpstreamClient } from './upstream.client';

@Global()
@Module({
  providers: [ProxyAgents, UpstreamClient],
  exports: [UpstreamClient, ProxyAgents],
})
export class UpstreamModule {}
