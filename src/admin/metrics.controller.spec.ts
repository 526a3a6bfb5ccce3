import type { Request, Response } from 'express';
import { StoreUnavailableError } from '../common/errors/store-unavailable.error';
import { InFlightRequests } from '../common/lifecycle/in-flight-requests';
import { OpenStreams } from '../common/lifecycle/open-streams.registry';
import { MetricsService, type PoolStateCounts } from '../metrics/metrics.service';
import type { PoolReadModel } from '../token-pool/pool-read-model';
import { MetricsController } from './metrics.controller';

describe('MetricsController', () => {
  async function scrape(counts: () => Promise<PoolStateCounts>): Promise<string> {
    const metrics = new MetricsService();
    metrics.recordHttpRequest('GET', '/healthz', 200);
    const controller = new MetricsController(metrics, { counts } as unknown as PoolReadModel, new OpenStreams(new InFlightRequests()));
    let body = '';
    const response = { setHeader: () => response, send: (text: string) => (body = text) } as unknown as Response;
    await controller.scrape({} as Request, response);
    return body;
  }

  it('shows the pool by state and the store as up', async () => {
    const text = await scrape(() => Promise.resolve({ active: 2, rate_limited: 1, expired: 0, disabled: 0 }));
    expect(text).toContain('flowgpt_pool_accounts{state="active"} 2');
    expect(text).toMatch(/^flowgpt_store_up 1$/m);
  });

  // Every instance on one Redis reports the same pool: summed across instances it would count each account once per instance.
  it('says in its help that the pool gauge is pool-wide, to be aggregated with max rather than sum', async () => {
    const text = await scrape(() => Promise.resolve({ active: 2, rate_limited: 1, expired: 0, disabled: 0 }));
    expect(text).toMatch(/^# HELP flowgpt_pool_accounts .*pool-wide.*max\(\).*not sum\(\)/im);
  });

  // Prometheus must still see the HTTP and process series during a Redis outage, when they matter most.
  it('renders every other series while the store does not answer, with the store down and no pool counts', async () => {
    const text = await scrape(() =>
      Promise.reject(new StoreUnavailableError('Redis at redis://127.0.0.1:6391/3', new Error('ECONNREFUSED'))),
    );
    expect(text).toContain('flowgpt_http_requests_total{method="GET",route="/healthz",status="200"} 1');
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toMatch(/^flowgpt_store_up 0$/m);
    expect(text).not.toContain('flowgpt_pool_accounts{');
  });

  it('lets any other failure through', async () => {
    await expect(scrape(() => Promise.reject(new TypeError('a bug')))).rejects.toThrow('a bug');
  });
});
