import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { testConfig } from '../config/test-config';
import { MetricsService } from '../metrics/metrics.service';
import { ProxyAgents } from './proxy-agents';
import { UpstreamClient } from './upstream.client';

describe('UpstreamClient and the cookies the upstream sets', () => {
  let server: http.Server;
  let url: string;
  const seen: { path: string; cookie?: string }[] = [];
  const agents = new ProxyAgents();
  const client = new UpstreamClient(testConfig({ userAgents: [], proxyUrl: [] }), agents, new MetricsService());
  const account = (key: string) => client.accountIdentity({ accessToken: `at-${key}`, fingerprintKey: key });

  beforeAll(async () => {
    // `/set/<name>=<value>` sets that cookie (on a streamed answer under `/stream`); any other path sets none.
    server = http.createServer((request, response) => {
      const path = request.url ?? '';
      seen.push({ path, cookie: request.headers.cookie });
      const set = /\/set\/(.+)$/.exec(path)?.[1];
      response.writeHead(path.startsWith('/refused') ? 401 : 200, {
        'content-type': path.startsWith('/stream') ? 'text/event-stream' : 'application/json',
        ...(set ? { 'set-cookie': [`${decodeURIComponent(set)}; Path=/; Max-Age=1800; HttpOnly`] } : {}),
      });
      response.end(path.startsWith('/stream') ? 'data: [DONE]\n\n' : '{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  beforeEach(() => (seen.length = 0));
  afterAll(async () => {
    agents.onModuleDestroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("sends an account's cookies back on its later calls to the origin that set them, after its own", async () => {
    await client.request({ url: `${url}/set/__cf_bm=bm1`, identity: account('user-a'), step: 'requirements' });
    const stream = await client.stream({ url: `${url}/stream/set/oai-sc=sc1`, identity: account('user-a'), step: 'conversation' });
    stream.body.resume();
    await client.request({ url: `${url}/next`, identity: account('user-a'), headers: { cookie: 'own=1' }, step: 'files' });
    expect(seen.map((request) => request.cookie)).toEqual([undefined, '__cf_bm=bm1', 'own=1; __cf_bm=bm1; oai-sc=sc1']);
  });

  it('keeps nothing a refusal sets: a forged token can share an account key, and must not change its cookies', async () => {
    await client.request({ url: `${url}/set/__cf_bm=real`, identity: account('user-f'), step: 'requirements' });
    await client.request({ url: `${url}/refused/set/__cf_bm=forged`, identity: account('user-f'), step: 'requirements' });
    await client.request({ url: `${url}/next`, identity: account('user-f'), step: 'requirements' });
    expect(seen.map((request) => request.cookie)).toEqual([undefined, '__cf_bm=real', '__cf_bm=real']);
  });

  it("keeps them from other accounts, and from calls without a cookie jar (the gateway's) on the same fingerprint", async () => {
    await client.request({ url: `${url}/set/oai-did=dev-c`, identity: account('user-c'), step: 'requirements' });
    await client.request({ url: `${url}/other`, identity: account('user-d'), step: 'requirements' });
    const { cookieJar, ...gateway } = account('user-c');
    expect(cookieJar).toBe('user-c');
    await client.request({ url: `${url}/set/__cf_bm=gateway`, identity: gateway, step: 'gateway' });
    await client.request({ url: `${url}/gateway`, identity: gateway, step: 'gateway' });
    await client.request({ url: `${url}/again`, identity: account('user-c'), step: 'requirements' });
    expect(seen.map((request) => request.cookie)).toEqual([undefined, undefined, undefined, undefined, 'oai-did=dev-c']);
  });
});
