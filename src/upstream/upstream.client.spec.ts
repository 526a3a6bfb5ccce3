import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { toApiError, UpstreamError } from '../common/errors/upstream-error';
import { testConfig } from '../token-pool/testing/fixtures';
import { ProxyAgents } from './proxy-agents';
import { MetricsService } from '../metrics/metrics.service';
import { UpstreamClient } from './upstream.client';

describe('UpstreamClient', () => {
  let server: http.Server;
  let url: string;
  const agents = new ProxyAgents();
  const client = new UpstreamClient(testConfig({ upstreamIdleTimeoutMs: 60_000, upstreamConnectTimeoutMs: 5_000, userAgents: [], proxyUrl: [] }), agents, new MetricsService());
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

  it('bounds a buffered request whose body stalls after the headers by its timeout, not the idle timeout', async () => {
    const failure = await client.request({ url: `${url}/backend-api/sentinel/chat-requirements`, timeoutMs: 300, step: 'requirements' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(UpstreamError);
    expect(failure).toMatchObject({ kind: 'timeout', step: 'requirements' });
    const clientError = toApiError(failure as UpstreamError);
    expect(clientError).toMatchObject({ code: 'upstream_timeout' });
    expect(clientError.getStatus()).toBe(504);
  }, 30_000);

  it.each(['fk-bad中token', 'fk-bad\u0001token', 'fk-bad\u00e9token'])('refuses to send a token that is no header value (%j) as the account’s own failure', async (token) => {
    for (const call of [
      () => client.request({ url, identity: identity(token), step: 'requirements' }),
      () => client.stream({ url, identity: identity(token), step: 'conversation' }),
    ]) {
      const failure = await call().catch((error: unknown) => error);
      expect(failure).toMatchObject({ kind: 'credential_invalid', step: expect.any(String), accountOutcome: { kind: 'unusable' } });
      expect(toApiError(failure as UpstreamError)).toMatchObject({ code: 'upstream_credential_invalid', details: { upstream: { step: expect.any(String) } } });
    }
  });
  it('opens hand-off WebSockets through the same proxy agent as the account’s HTTP calls, without its credentials', () => {
    const proxied = { accessToken: 'secret-at', fingerprint: { ...client.fingerprint('account'), proxyUrl: 'http://proxy.invalid:8080' } };
    const secure = client.webSocketOptions('wss://ws.chatgpt.com/ws/user?verify=x', 'https://chatgpt.com', proxied);
    expect(secure.agent).toBe(agents.for('http://proxy.invalid:8080').https);
    expect(client.webSocketOptions('ws://127.0.0.1:1/ws/user', 'https://chatgpt.com', proxied).agent).toBe(agents.for('http://proxy.invalid:8080').http);
    expect(client.webSocketOptions('wss://ws.chatgpt.com/', 'https://chatgpt.com', identity('secret-at')).agent).toBe(agents.for(undefined).https);
    expect(secure.headers).toMatchObject({ origin: 'https://chatgpt.com', 'user-agent': proxied.fingerprint.userAgent });
    expect(JSON.stringify(secure.headers)).not.toContain('secret-at');
  });
});
