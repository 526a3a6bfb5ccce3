import { testConfig } from '../config/test-config';
import { MetricsService } from '../metrics/metrics.service';
import { fingerprintFor } from '../upstream/fingerprint';
import type { UpstreamClient, UpstreamRequest, UpstreamResponse } from '../upstream/upstream.client';
import type { BuildInfoService } from './build-info.service';
import { PowWorkerPool } from './pow-worker-pool';
import { SentinelService } from './sentinel.service';

const ok = (json: unknown): UpstreamResponse => ({ status: 200, headers: {}, body: Buffer.from(JSON.stringify(json)) });
const buildInfo = {
  get: () => Promise.resolve({ dpl: 'prod-1', scripts: ['https://cdn/app.js'], clientVersion: 'v', clientBuildNumber: '1' }),
};
const identity = { accessToken: 'at', fingerprint: fingerprintFor('account', [], []) };

describe('SentinelService', () => {
  const pool = new PowWorkerPool({ size: 1 });
  afterAll(() => pool.onModuleDestroy());

  /** A sentinel whose upstream answers by `answer` (by URL), recording every call in `calls`. */
  function sentinel(
    overrides: Parameters<typeof testConfig>[0],
    answer: (request: UpstreamRequest) => UpstreamResponse,
  ): { service: SentinelService; calls: UpstreamRequest[] } {
    const calls: UpstreamRequest[] = [];
    const upstream = {
      request: (request: UpstreamRequest) => {
        calls.push(request);
        return Promise.resolve(answer(request));
      },
    } as unknown as UpstreamClient;
    const config = testConfig({ powDifficulty: '000032', ...overrides });
    const service = new SentinelService(config, upstream, buildInfo as unknown as BuildInfoService, pool, new MetricsService());
    return { service, calls };
  }

  // A browser makes both from one address; drawn per call, the pair usually left from two (`oai-sc` from prepare went back from another IP).
  it('sends prepare and finalize of one turn through the same SENTINEL_PROXY_URL proxy', async () => {
    const proxies = ['http://10.0.0.1:3128', 'http://10.0.0.2:3128'];
    const pairs: [string | null | undefined, string | null | undefined][] = [];
    for (let turn = 0; turn < 20; turn++) {
      const { service, calls } = sentinel({ sentinelProxyUrl: proxies }, (request) =>
        request.url.endsWith('/prepare')
          ? ok({ prepare_token: 'pt', persona: 'chatgpt-paid', proofofwork: { required: true, seed: '0.42', difficulty: '0fffff' } })
          : ok({ token: 'final' }),
      );
      const clearance = await service.clearPrepared('https://chatgpt.example', identity, {});
      expect(clearance.headers['openai-sentinel-chat-requirements-token']).toBe('final');
      pairs.push([calls[0].proxyUrl, calls[1].proxyUrl]);
    }
    expect(pairs.filter(([prepare, finalize]) => prepare !== finalize)).toEqual([]);
  });

  // upstream-protocol.md §3.2: the same config (time, UUID, random picks) for `p` and the conversation's proof; only the counters differ.
  it.each(['clear', 'clearPrepared'] as const)('describes one browser in p and in the proof of work (%s)', async (method) => {
    const pow = { required: true, seed: '0.42', difficulty: '0fffff' };
    const { service, calls } = sentinel({}, (request) =>
      request.url.endsWith('/prepare')
        ? ok({ prepare_token: 'pt', proofofwork: pow })
        : ok({ token: 'requirements-token', proofofwork: pow }),
    );
    const clearance =
      method === 'clear'
        ? await service.clear('https://chatgpt.example', identity)
        : await service.clearPrepared('https://chatgpt.example', identity, {});
    const decode = (token: string) => JSON.parse(Buffer.from(token.slice(7), 'base64').toString('utf8')) as unknown[];
    const withoutCounters = (config: unknown[]) => config.filter((_, index) => index !== 3 && index !== 9);
    const requirements = decode((calls[0].json as { p: string }).p);
    const proof = decode(clearance.headers['openai-sentinel-proof-token']);
    expect(withoutCounters(proof)).toEqual(withoutCounters(requirements));
  });

  it('refuses an arkose token the solver says it did not solve, saying so', async () => {
    const { service, calls } = sentinel({ arkoseTokenUrl: 'http://solver.local/arkose' }, (request) =>
      request.url === 'http://solver.local/arkose'
        ? ok({ solved: false, token: 'unsolved-token' })
        : ok({ token: 'requirements-token', arkose: { required: true, dx: 'blob' } }),
    );
    const failure = await service.clear('https://chatgpt.example', identity).catch((error: unknown) => error);
    expect(failure).toMatchObject({ kind: 'arkose_failed', step: 'requirements' });
    expect((failure as Error).message).toBe('The Arkose solver did not return a token: it answered solved: false.');
    expect(calls.map((call) => call.url)).toEqual([
      'https://chatgpt.example/backend-api/sentinel/chat-requirements',
      'http://solver.local/arkose',
    ]);
  });
});
