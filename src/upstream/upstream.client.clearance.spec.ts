import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { SystemClock } from '../common/vocabulary/clock';
import { testConfig } from '../config/test-config';
import { MetricsService } from '../metrics/metrics.service';
import { ClearanceCookie, ClearanceRoute } from './clearance-jar';
import { ClearanceSolver } from './chromium-clearance.solver';
import { CloudflareClearance } from './cloudflare-clearance.service';
import { readBody } from './exchange';
import { ProxyAgents } from './proxy-agents';
import { UpstreamClient } from './upstream.client';

/** Earns `cf_clearance=<value>` at once, and counts its solves. */
class InstantSolver extends ClearanceSolver {
  solved: ClearanceRoute[] = [];
  value = 'good';

  solve(route: ClearanceRoute): Promise<ClearanceCookie[]> {
    this.solved.push(route);
    return Promise.resolve([{ name: 'cf_clearance', value: this.value, expiresAt: Date.now() + 3_600_000 }]);
  }
}

describe('UpstreamClient with the clearance helper', () => {
  let server: http.Server;
  let url: string;
  const seen: { path: string; cookie?: string }[] = [];
  const agents = new ProxyAgents();
  const solver = new InstantSolver();
  const config = testConfig({ userAgents: [], proxyUrl: [], cfClearance: 'chromium' });
  const client = new UpstreamClient(config, agents, new MetricsService(), new CloudflareClearance(config, solver, new SystemClock()));
  const identity = { accessToken: 'at-test', fingerprint: client.fingerprint('account') };

  beforeAll(async () => {
    // Challenges every request without `cf_clearance=good`; `/plain-403` is an HTML 403 that is no challenge;
    // `/sets-cookies` sets cookies of its own once past the challenge.
    server = http.createServer((request, response) => {
      seen.push({ path: request.url ?? '', cookie: request.headers.cookie });
      if (request.url === '/plain-403') {
        response.writeHead(403, { 'content-type': 'text/html' });
        return response.end('<html>Forbidden by the origin</html>');
      }
      if (request.url === '/mentions-marker') {
        response.writeHead(200, { 'content-type': 'application/json' });
        return response.end(JSON.stringify({ status: 'success', file_name: 'notes-on-cf_chl_opt.txt' }));
      }
      if (!/(^|; )cf_clearance=good(;|$)/.test(request.headers.cookie ?? '')) {
        response.writeHead(403, { 'content-type': 'text/html', 'cf-mitigated': 'challenge' });
        return response.end('<script>window._cf_chl_opt={}</script>');
      }
      const cookies = request.url === '/sets-cookies' ? ['cf_clearance=from-upstream', '__cf_bm=bm-upstream', 'oai-sc=sc1'] : [];
      response.writeHead(200, { 'content-type': 'text/event-stream', 'set-cookie': cookies });
      response.end('data: [DONE]\n\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  beforeEach(() => {
    seen.length = 0;
    solver.solved = [];
  });
  afterAll(async () => {
    agents.onModuleDestroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('passes a challenge once, retries with the clearance next to its own cookies, and keeps sending it', async () => {
    const response = await client.request({ url: `${url}/first`, identity, headers: { cookie: 'own=1' }, step: 'requirements' });
    expect(response.status).toBe(200);
    expect(seen).toEqual([
      { path: '/first', cookie: 'own=1' },
      { path: '/first', cookie: 'own=1; cf_clearance=good' },
    ]);
    expect(solver.solved).toEqual([{ origin: url, proxyUrl: undefined, userAgent: identity.fingerprint.userAgent }]);

    const stream = await client.stream({ url: `${url}/stream`, identity, step: 'conversation' });
    expect(stream.status).toBe(200);
    stream.body.resume();
    expect(seen.at(-1)).toEqual({ path: '/stream', cookie: 'cf_clearance=good' });
    expect(solver.solved).toHaveLength(1);
  });

  it('passes a challenge to a streamed request the same way', async () => {
    const other = { ...identity, fingerprint: { ...identity.fingerprint, userAgent: 'Mozilla/5.0 Other/1.0' } };
    const stream = await client.stream({ url: `${url}/conversation`, identity: other, step: 'conversation' });
    expect(stream.status).toBe(200);
    let text = '';
    for await (const chunk of stream.body) text += String(chunk);
    expect(text).toBe('data: [DONE]\n\n');
    expect(seen.map((request) => request.cookie)).toEqual([undefined, 'cf_clearance=good']);
  });

  it('hands an HTML 403 that is no challenge back whole, without a solve', async () => {
    const stream = await client.stream({ url: `${url}/plain-403`, identity, step: 'conversation' });
    expect(stream.status).toBe(403);
    let text = '';
    for await (const chunk of stream.body) text += String(chunk);
    expect(text).toBe('<html>Forbidden by the origin</html>');
    expect(solver.solved).toEqual([]);
  });

  // A file name, a conversation title or a message may hold the challenge page's marker: the head decides, as for a stream.
  it('hands a 200 that mentions cf_chl_opt back as it is: no solve, no second request', async () => {
    const response = await client.request({ url: `${url}/mentions-marker`, identity, step: 'download' });
    expect(response.status).toBe(200);
    expect(response.body.toString()).toContain('cf_chl_opt');
    expect(seen).toHaveLength(1);
    expect(solver.solved).toEqual([]);
  });

  // The gateway forwards uploads unbuffered: the first send has read the stream, a second would send nothing in its place.
  it('returns the challenge to a request with a streamed body as it came, without a solve or a second send', async () => {
    const fingerprint = { ...identity.fingerprint, userAgent: 'Mozilla/5.0 Uploader/1.0' };
    const upload = (body: Readable) =>
      client.stream({
        method: 'POST',
        url: `${url}/upload`,
        identity: { ...identity, fingerprint },
        body,
        totalTimeoutMs: 5_000,
        step: 'gateway',
      });
    const answer = await upload(Readable.from([Buffer.from('payload')]));
    expect(answer.status).toBe(403);
    expect(answer.headers['cf-mitigated']).toBe('challenge');
    expect((await readBody(answer.body)).toString()).toContain('_cf_chl_opt');
    const buffered = await client.request({
      method: 'POST',
      url: `${url}/upload`,
      identity: { ...identity, fingerprint },
      body: Readable.from(['x']),
      step: 'gateway',
    });
    expect(buffered.status).toBe(403);
    expect(seen).toHaveLength(2);
    expect(solver.solved).toEqual([]);
  });

  it("sends the clearance next to an account's own cookies, each name once and cf_clearance the clearance's", async () => {
    const fingerprint = { ...identity.fingerprint, userAgent: 'Mozilla/5.0 Fourth/1.0' };
    const account = { ...identity, fingerprint, cookieJar: 'user-fourth' };
    expect((await client.request({ url: `${url}/sets-cookies`, identity: account, step: 'requirements' })).status).toBe(200);
    await client.request({ url: `${url}/next`, identity: account, step: 'requirements' });
    expect(seen.map((request) => request.cookie)).toEqual([
      undefined,
      'cf_clearance=good',
      'cf_clearance=good; __cf_bm=bm-upstream; oai-sc=sc1',
    ]);
  });

  it('retries only once: a clearance the upstream still refuses leaves the challenge for the caller to report', async () => {
    solver.value = 'refused';
    try {
      const third = { ...identity, fingerprint: { ...identity.fingerprint, userAgent: 'Mozilla/5.0 Third/1.0' } };
      const response = await client.request({ url: `${url}/again`, identity: third, step: 'requirements' });
      expect(response.status).toBe(403);
      expect(response.headers['cf-mitigated']).toBe('challenge');
      expect(seen).toHaveLength(2);
      expect(solver.solved).toHaveLength(1);
    } finally {
      solver.value = 'good';
    }
  });
});
