import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from './testing/fake-clock';
import { testConfig } from '../config/test-config';
import { testUpstreamClient } from '../upstream/testing/test-upstream-client';
import type { AppConfig } from '../config/app-config';
import {
  fakeAccessToken,
  fakeRefreshToken,
  rotatingReplies,
  startFakeAuthServer,
  type AuthServerReply,
  type FakeAuthServer,
} from './testing/fixtures';
import { AuthServerUnavailableError, RefreshTokenExchanger, RefreshTokenRejectedError } from './refresh-token.exchanger';
import { FileAccountStore } from './stores/file-account-store';

describe('RefreshTokenExchanger', () => {
  const clock = new FakeClock();
  let server: FakeAuthServer;
  let reply: (body: Record<string, unknown>) => AuthServerReply;
  let exchanger: RefreshTokenExchanger;
  const rt = fakeRefreshToken('rt');
  const upstreams: { close(): void }[] = [];
  /** An exchanger with its own real upstream client (closed after each test). */
  const newExchanger = (config: AppConfig) => {
    const upstream = testUpstreamClient(config);
    upstreams.push(upstream);
    return new RefreshTokenExchanger(config, clock, upstream.client);
  };

  beforeAll(async () => {
    server = await startFakeAuthServer((body) => reply(body));
  });
  afterAll(() => server.close());
  beforeEach(() => {
    server.requests.length = 0;
    clock.set(Date.UTC(2030, 0, 1));
    exchanger = newExchanger(testConfig({ authBaseUrl: `${server.url}/` }));
    reply = () => ({ status: 200, body: { access_token: fakeAccessToken({ exp: clock.now() + 3_600_000 }), expires_in: 3600 } });
  });
  afterEach(() => {
    for (const upstream of upstreams.splice(0)) upstream.close();
  });

  it('posts the refresh grant and reads the expiry from the JWT', async () => {
    const accessToken = fakeAccessToken({ exp: clock.now() + 7_200_000 });
    reply = () => ({ status: 200, body: { access_token: accessToken, expires_in: 60 } });
    expect(await exchanger.exchange(rt)).toEqual({ accessToken, expiresAt: clock.now() + 7_200_000 });
    const config = testConfig();
    expect(server.requests).toEqual([
      {
        path: '/oauth/token',
        client_id: config.refreshClientId,
        grant_type: 'refresh_token',
        redirect_uri: config.refreshRedirectUri,
        refresh_token: rt,
      },
    ]);
  });

  it('falls back to expires_in when the AccessToken is not a JWT', async () => {
    reply = () => ({ status: 200, body: { access_token: 'fk-opaque', expires_in: 600 } });
    expect(await exchanger.exchange(rt)).toEqual({ accessToken: 'fk-opaque', expiresAt: clock.now() + 600_000 });
  });

  it('merges concurrent exchanges of one RefreshToken into one request', async () => {
    const base = reply;
    reply = (body) => ({ ...base(body), delayMs: 100 });
    const results = await Promise.all(Array.from({ length: 10 }, () => exchanger.exchange(rt)));
    expect(server.requests).toHaveLength(1);
    expect(new Set(results.map((result) => result.accessToken)).size).toBe(1);
  });

  it('caches until five minutes before the AccessToken expires, unless forced', async () => {
    const first = await exchanger.exchange(rt);
    clock.advance(54 * 60_000);
    expect(await exchanger.exchange(rt)).toEqual(first);
    expect(server.requests).toHaveLength(1);
    await exchanger.exchange(rt, { force: true });
    expect(server.requests).toHaveLength(2);
    clock.advance(2 * 60_000);
    await exchanger.exchange(rt);
    expect(server.requests).toHaveLength(2);
    clock.advance(60 * 60_000);
    await exchanger.exchange(rt);
    expect(server.requests).toHaveLength(3);
  });

  it('returns a rotated RefreshToken', async () => {
    const rotated = 'rt_rotated-refresh-token-0001';
    reply = () => ({ status: 200, body: { access_token: fakeAccessToken({ exp: clock.now() + 3_600_000 }), refresh_token: rotated } });
    expect(await exchanger.exchange(rt)).toMatchObject({ refreshToken: rotated });
  });

  it('sends the newest RefreshToken for a spent one, and says which is the newest', async () => {
    reply = rotatingReplies(clock);
    expect(await exchanger.exchange(rt)).toMatchObject({ refreshToken: 'rt_next-1' });
    // Once the AccessToken is stale, the holder of the first token is refreshed with the second, then the third.
    clock.advance(3_600_000);
    expect(await exchanger.exchange(rt)).toMatchObject({ refreshToken: 'rt_next-2' });
    clock.advance(3_600_000);
    expect(await exchanger.exchange(rt)).toMatchObject({ refreshToken: 'rt_next-3' });
    expect(await exchanger.exchange('rt_next-3')).not.toHaveProperty('refreshToken');
    expect(server.requests.map((request) => request.refresh_token)).toEqual([rt, 'rt_next-1', 'rt_next-2']);
  });

  it('exchanges one value at a time across instances sharing the store, whichever older value each was given', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'flowgpt-exchanger-'));
    try {
      // Two exchangers on one store are two instances: the file store's lock is shared within the process.
      const store = new FileAccountStore({ dataDir });
      await store.open();
      const config = testConfig({ authBaseUrl: server.url });
      const [poolSide, clientSide] = [config, config].map((each) => {
        const upstream = testUpstreamClient(each);
        upstreams.push(upstream);
        return new RefreshTokenExchanger(each, clock, upstream.client, store);
      });
      reply = rotatingReplies(clock, 100);
      const { refreshToken: poolHolds } = await poolSide.exchange(rt);
      expect(poolHolds).toBe('rt_next-1');
      clock.advance(3_600_000);
      // The pool holds the second value, a client still the first: both lead to the second, which is sent once.
      const answers = await Promise.allSettled([poolSide.exchange(poolHolds!), clientSide.exchange(rt)]);
      expect(answers.map((answer) => answer.status)).toEqual(['fulfilled', 'fulfilled']);
      expect(server.requests.map((request) => request.refresh_token)).toEqual([rt, 'rt_next-1', 'rt_next-2']);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it.each(['invalid_grant', 'access_denied'])('rejects the RefreshToken on %s', async (code) => {
    reply = () => ({ status: 403, body: { error: code, error_description: 'Unknown or invalid refresh token.' } });
    await expect(exchanger.exchange(rt)).rejects.toEqual(expect.objectContaining({ name: 'RefreshTokenRejectedError', code, status: 403 }));
    await expect(exchanger.exchange(rt)).rejects.toBeInstanceOf(RefreshTokenRejectedError);
    expect(server.requests).toHaveLength(2);
  });

  /** auth.openai.com's error object, as it answers a refresh it refuses. */
  const openaiError = (code: string, message: string) => ({ error: { message, type: 'invalid_request_error', param: null, code } });

  it.each([
    [
      401,
      openaiError('refresh_token_reused', 'Your refresh token has already been used to generate a new access token.'),
      'refresh_token_reused',
    ],
    [401, openaiError('refresh_token_invalidated', 'Your session has ended. Please log in again.'), 'refresh_token_invalidated'],
    [401, openaiError('refresh_token_expired', 'Your refresh token has expired. Please try signing in again.'), 'refresh_token_expired'],
    [401, openaiError('token_expired', 'Could not validate your token. Please try signing in again.'), 'token_expired'],
    [401, openaiError('token_invalidated', 'Your authentication token has been invalidated.'), 'token_invalidated'],
    [403, { error: 'token_revoked' }, 'token_revoked'],
  ])('rejects the RefreshToken on a %s naming the token refused (%j)', async (status, body, code) => {
    reply = () => ({ status, body });
    await expect(exchanger.exchange(rt)).rejects.toEqual(expect.objectContaining({ name: 'RefreshTokenRejectedError', code, status }));
  });

  it.each([
    ['a 429', 429, { error: 'rate_limit_exceeded' }],
    ['invalid_grant in a 5xx', 500, { error: 'invalid_grant' }],
    ["a 403 that is not the auth server's answer (a Cloudflare or proxy page)", 403, '<html><title>Just a moment...</title></html>'],
    ["a refusal of the deployment's client settings, which every account would get", 401, { error: 'invalid_client' }],
    [
      "the geo-block of the deployment's egress (every account would get it)",
      403,
      {
        error: {
          code: 'unsupported_country_region_territory',
          message: 'Country, region, or territory not supported',
          param: null,
          type: 'request_forbidden',
        },
      },
    ],
    ['a JSON 403 naming no code (a proxy or WAF)', 403, { error: { message: 'Forbidden by egress policy' } }],
    ['an error naming only its type', 403, { error: { message: 'Forbidden.', type: 'invalid_request_error' } }],
    ['an error code that does not name the token', 400, { error: { code: 'some_new_code', message: 'Something else.' } }],
    [
      'a malformed request (every account sends the same form)',
      400,
      { error: 'invalid_request', error_description: 'Missing required parameter.' },
    ],
  ])('takes %s for an unavailable auth server, not a refused RefreshToken', async (_what, status, body) => {
    reply = () => ({ status, body });
    await expect(exchanger.exchange(rt)).rejects.toEqual(expect.objectContaining({ name: 'AuthServerUnavailableError', status }));
  });

  it('reports an unavailable auth server on 5xx, malformed answers and network errors', async () => {
    reply = () => ({ status: 502, body: 'bad gateway' });
    await expect(exchanger.exchange(rt)).rejects.toEqual(expect.objectContaining({ name: 'AuthServerUnavailableError', status: 502 }));
    reply = () => ({ status: 200, body: { token_type: 'Bearer' } });
    await expect(exchanger.exchange(rt)).rejects.toBeInstanceOf(AuthServerUnavailableError);
    const offline = newExchanger(testConfig({ authBaseUrl: 'http://127.0.0.1:9' }));
    await expect(offline.exchange(rt)).rejects.toBeInstanceOf(AuthServerUnavailableError);
  });

  it('never puts the RefreshToken in an error message', async () => {
    reply = () => ({ status: 400, body: { error: 'invalid_grant', echo: rt } });
    const error = (await exchanger.exchange(rt).catch((caught: Error) => caught)) as Error;
    expect(error.message).not.toContain(rt);
  });

  it('makes its call through the shared upstream client (proxies, timeouts, metrics), not a client of its own', async () => {
    const config = testConfig({ authBaseUrl: server.url });
    const upstream = testUpstreamClient(config);
    upstreams.push(upstream);
    const request = jest.spyOn(upstream.client, 'request');
    await new RefreshTokenExchanger(config, clock, upstream.client).exchange(rt);
    expect(request).toHaveBeenCalledTimes(1);
    expect(request).toHaveBeenCalledWith(
      expect.objectContaining({ method: 'POST', url: `${server.url}/oauth/token`, step: 'refresh', proxyUrl: null }),
    );
    expect(server.requests).toHaveLength(1);
  });
});
