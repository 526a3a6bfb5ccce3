import type { AppConfig } from '../../config/app-config';
import { MetricsService } from '../../metrics/metrics.service';
import { ProxyAgents } from '../proxy-agents';
import { UpstreamClient } from '../upstream.client';

/** A real `UpstreamClient` outside Nest, for unit specs; `close` releases its keep-alive connections. */
export function testUpstreamClient(config: AppConfig): { client: UpstreamClient; close: () => void } {
  const agents = new ProxyAgents();
  return { client: new UpstreamClient(config, agents, new MetricsService()), close: () => agents.onModuleDestroy() };
}
