import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { toApiError, UpstreamError } from '../common/errors/upstream-error';
import { testConfig } from '../config/test-config';
import { ProxyAgents } from './proxy-agents';
import { MetricsService } from '../metrics/metrics.service';
import { DEFAULT_USER_AGENT, transportDetail, UpstreamClient } from './upstream.client';

describe('UpstreamClient', () => {
  let server: http.Server;
  let url: string;
  const agents = new ProxyAgents();
  const client = new UpstreamClient(
    testConfig({ upstreamIdleTimeoutMs: 60_000, upstreamConnectTimeoutMs: 5_000, userAgents: [], proxyUrl: [] }),
    agents,
    new MetricsService(),
  );
  const identity = (accessToken: string) => ({ accessToken, fingerprint: client.fingerprint('account') });

  beforeAll(async () => {
    // Sends its headers and the start of a body, then goes silent.
    server = http.createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"token":');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    agents.onModuleDestroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("passes on a failure of the caller's own request body as it is, not as an upstream failure", async () => {
    const tooLarge = new Error('the request body is over its limit');
    const body = new Readable({ read: () => undefined });
    // Fails before the upstream can answer: its error is emitted on the next tick, once the call reads the body.
    body.destroy(tooLarge);
    const failure = await client
      .stream({ method: 'PUT', url: `${url}/file-upload`, body, decompress: false, step: 'gateway' })
      .catch((error: unknown) => error);
    expect(failure).toBe(tooLarge);
  });

  it('bounds a buffered request whose body stalls after the headers by its timeout, not the idle timeout', async () => {
    const failure = await client
      .request({ url: `${url}/backend-api/sentinel/chat-requirements`, timeoutMs: 300, step: 'requirements' })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(UpstreamError);
    expect(failure).toMatchObject({ kind: 'timeout', step: 'requirements' });
    const clientError = toApiError(failure as UpstreamError);
    expect(clientError).toMatchObject({ code: 'upstream_timeout' });
    expect(clientError.getStatus()).toBe(504);
  }, 30_000);

  it.each(['fk-bad中token', 'fk-bad\u0001token', 'fk-bad\u00e9token'])(
    'refuses to send a token that is no header value (%j) as the account’s own failure',
    async (token) => {
      for (const call of [
        () => client.request({ url, identity: identity(token), step: 'requirements' }),
        () => client.stream({ url, identity: identity(token), step: 'conversation' }),
      ]) {
        const failure = await call().catch((error: unknown) => error);
        expect(failure).toMatchObject({ kind: 'credential_invalid', step: expect.any(String), accountOutcome: { kind: 'unusable' } });
        expect(toApiError(failure as UpstreamError)).toMatchObject({
          code: 'upstream_credential_invalid',
          details: { upstream: { step: expect.any(String) } },
        });
      }
    },
  );

  describe('options for calls that are not to chatgpt.com (auth server, client file URLs)', () => {
    let other: http.Server;
    let otherUrl: string;
    beforeAll(async () => {
      other = http.createServer((request, response) => {
        if (request.url === '/moved') {
          response.writeHead(302, { location: '/target' });
          response.end();
          return;
        }
        if (request.url === '/slow-body') {
          response.writeHead(200, { 'content-type': 'text/plain' });
          const timer = setInterval(() => response.write('.'), 50);
          response.on('close', () => clearInterval(timer));
          return;
        }
        if (request.url === '/user-agent') {
          response.end(request.headers['user-agent'] ?? '(none)');
          return;
        }
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.end(`${request.method} ${request.url}`);
      });
      await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
      otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      other.closeAllConnections();
      await new Promise<void>((resolve) => other.close(() => resolve()));
    });
    const text = async (stream: Awaited<ReturnType<UpstreamClient['stream']>>) => {
      const chunks: Buffer[] = [];
      for await (const chunk of stream.body) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    };

    it('answers a redirect as it is unless told to follow it', async () => {
      expect((await client.request({ url: `${otherUrl}/moved`, step: 'refresh' })).status).toBe(302);
      const followed = await client.request({ url: `${otherUrl}/moved`, followRedirects: true, step: 'refresh' });
      expect(followed.status).toBe(200);
      expect(followed.body.toString('utf8')).toBe('GET /target');
      const streamed = await client.stream({ url: `${otherUrl}/moved`, followRedirects: true, step: 'file_fetch' });
      expect(await text(streamed)).toBe('GET /target');
    });

    it('resolves host names with the given lookup, and keeps the refusal as the cause of the transport error', async () => {
      const refuse: NonNullable<Parameters<UpstreamClient['stream']>[0]['dnsLookup']> = (hostname, _options, callback) =>
        callback(Object.assign(new Error(`${hostname} is not a public address`), { code: 'EPRIVATEADDRESS' }), '');
      const hostUrl = otherUrl.replace('127.0.0.1', 'files.localtest.example');
      const failure = await client
        .stream({ url: `${hostUrl}/a.png`, dnsLookup: refuse, step: 'file_fetch' })
        .catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(UpstreamError);
      expect(toApiError(failure as UpstreamError)).toMatchObject({ code: 'upstream_unreachable' });
      expect(transportDetail(failure)).toBe('files.localtest.example is not a public address');
      const allow: typeof refuse = (_hostname, options, callback) =>
        options.all ? callback(null, [{ address: '127.0.0.1', family: 4 }]) : callback(null, '127.0.0.1', 4);
      expect(await text(await client.stream({ url: `${hostUrl}/a.png`, dnsLookup: allow, step: 'file_fetch' }))).toBe('GET /a.png');
    });

    it('bounds a whole streamed exchange by totalTimeoutMs, even while bytes keep arriving', async () => {
      const streamed = await client.stream({ url: `${otherUrl}/slow-body`, totalTimeoutMs: 400, step: 'file_fetch' });
      const failure = await text(streamed).catch((error: unknown) => error);
      expect(failure).toMatchObject({ code: 'ETIMEDOUT' });
    }, 30_000);

    it('names itself to a server that is not chatgpt.com, over either transport, unless the caller names a user agent', async () => {
      const agentOf = async (request: Partial<Parameters<UpstreamClient['request']>[0]>) =>
        (await client.request({ url: `${otherUrl}/user-agent`, step: 'file_fetch', ...request })).body.toString('utf8');
      expect(await agentOf({})).toBe(DEFAULT_USER_AGENT);
      expect(await agentOf({ followRedirects: true })).toBe(DEFAULT_USER_AGENT);
      expect(await agentOf({ headers: { 'user-agent': 'Mine/1.0' } })).toBe('Mine/1.0');
    });

    it('sends a JSON body with a POST', async () => {
      const response = await client.request({
        method: 'POST',
        url: `${otherUrl}/oauth/token`,
        json: { grant_type: 'refresh_token' },
        step: 'refresh',
      });
      expect(response.body.toString('utf8')).toBe('POST /oauth/token');
    });
  });

  it('opens hand-off WebSockets through the same proxy agent as the account’s HTTP calls, without its credentials', () => {
    const proxied = { accessToken: 'secret-at', fingerprint: { ...client.fingerprint('account'), proxyUrl: 'http://proxy.invalid:8080' } };
    const secure = client.webSocketOptions('wss://ws.chatgpt.com/ws/user?verify=x', 'https://chatgpt.com', proxied);
    expect(secure.agent).toBe(agents.for('http://proxy.invalid:8080').https);
    expect(client.webSocketOptions('ws://127.0.0.1:1/ws/user', 'https://chatgpt.com', proxied).agent).toBe(
      agents.for('http://proxy.invalid:8080').http,
    );
    expect(client.webSocketOptions('wss://ws.chatgpt.com/', 'https://chatgpt.com', identity('secret-at')).agent).toBe(
      agents.for(undefined).https,
    );
    expect(secure.headers).toMatchObject({ origin: 'https://chatgpt.com', 'user-agent': proxied.fingerprint.userAgent });
    expect(JSON.stringify(secure.headers)).not.toContain('secret-at');
  });
});
