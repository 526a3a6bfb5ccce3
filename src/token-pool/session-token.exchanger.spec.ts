import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { testConfig } from '../config/test-config';
import { testUpstreamClient } from '../upstream/testing/test-upstream-client';
import { AuthServerUnavailableError } from './refresh-token.exchanger';
import { SESSION_COOKIE_NAME, SessionTokenExchanger, SessionTokenRejectedError, sessionCookieFrom } from './session-token.exchanger';
import { FakeClock } from './testing/fake-clock';
import { fakeAccessToken } from './testing/fixtures';

interface SessionReply {
  status?: number;
  body: unknown;
  setCookie?: string[];
  headers?: Record<string, string>;
  delayMs?: number;
}

const jwe = (label: string) =>
  ['eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0', '', 'aXY', Buffer.from(label).toString('base64url'), 'dGFn'].join('.');

describe('SessionTokenExchanger', () => {
  const clock = new FakeClock();
  let server: Server;
  let url: string;
  let seen: { path?: string; headers: IncomingHttpHeaders }[];
  let reply: (cookie: string | undefined) => SessionReply;
  let exchanger: SessionTokenExchanger;
  let close: () => void;
  const st = jwe('session-one');

  const cookieOf = (headers: IncomingHttpHeaders) =>
    new RegExp(`${SESSION_COOKIE_NAME.replace(/[.-]/g, '\\$&')}=([^;]+)`).exec(headers.cookie ?? '')?.[1];
  const live = (accessToken = fakeAccessToken({ exp: clock.now() + 3_600_000 })): SessionReply => ({
    body: { user: { id: 'user-1', email: 'a@b.c' }, expires: new Date(clock.now() + 30 * 86_400_000).toISOString(), accessToken },
  });

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ path: req.url, headers: req.headers });
      const answer = reply(cookieOf(req.headers));
      setTimeout(() => {
        res.writeHead(answer.status ?? 200, {
          'content-type': 'application/json',
          ...answer.headers,
          ...(answer.setCookie ? { 'set-cookie': answer.setCookie } : {}),
        });
        res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
      }, answer.delayMs ?? 0);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    seen = [];
    clock.set(Date.UTC(2030, 0, 1));
    const upstream = testUpstreamClient(testConfig({ chatgptBaseUrl: [url] }));
    close = upstream.close;
    exchanger = new SessionTokenExchanger(clock, upstream.client);
    reply = () => live();
  });
  afterEach(() => close());

  it('asks /api/auth/session with the cookie, as a browser, and reads the expiry from the JWT', async () => {
    const accessToken = fakeAccessToken({ exp: clock.now() + 7_200_000 });
    reply = () => live(accessToken);
    expect(await exchanger.exchange(st, { fingerprintKey: 'account-1' })).toEqual({ accessToken, expiresAt: clock.now() + 7_200_000 });
    expect(seen).toHaveLength(1);
    expect(seen[0].path).toBe('/api/auth/session');
    expect(seen[0].headers.cookie).toBe(`${SESSION_COOKIE_NAME}=${st}`);
    expect(seen[0].headers['user-agent']).toMatch(/Mozilla/);
    expect(seen[0].headers.authorization).toBeUndefined();
  });

  it('asks afresh after the upstream refused the AccessToken it gave, also under a rotated cookie', async () => {
    reply = () => ({
      ...live(fakeAccessToken({ userId: `user-${seen.length}`, exp: clock.now() + 3_600_000 })),
      setCookie: [`${SESSION_COOKIE_NAME}=${jwe(`rotated-${seen.length}`)}; Path=/`],
    });
    const first = await exchanger.exchange(st);
    exchanger.refused(st, first.accessToken);
    const second = await exchanger.exchange(st);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(seen).toHaveLength(2);
  });

  it('forgets what it cached, under the rotated cookie too; after a success, the next refusal asks afresh at once', async () => {
    reply = () => ({
      ...live(fakeAccessToken({ userId: `user-${seen.length}`, exp: clock.now() + 3_600_000 })),
      setCookie: [`${SESSION_COOKIE_NAME}=${jwe(`rotated-${seen.length}`)}; Path=/`],
    });
    await exchanger.exchange(st);
    exchanger.forget(st);
    const second = await exchanger.exchange(st);
    expect(seen).toHaveLength(2);
    exchanger.refused(st, second.accessToken);
    const third = await exchanger.exchange(st);
    expect(seen).toHaveLength(3);
    // A second refusal in a row within the minute waits; a success in between starts the count over.
    exchanger.refused(st, third.accessToken);
    expect((await exchanger.exchange(st)).accessToken).toBe(third.accessToken);
    exchanger.accepted(st);
    exchanger.refused(st, third.accessToken);
    await exchanger.exchange(st);
    expect(seen).toHaveLength(4);
  });

  it('shares one request among concurrent exchanges and caches until five minutes before expiry', async () => {
    reply = () => ({ ...live(), delayMs: 100 });
    const results = await Promise.all(Array.from({ length: 10 }, () => exchanger.exchange(st)));
    expect(seen).toHaveLength(1);
    expect(new Set(results.map((result) => result.accessToken)).size).toBe(1);
    clock.advance(54 * 60_000);
    await exchanger.exchange(st);
    expect(seen).toHaveLength(1);
    clock.advance(2 * 60_000);
    await exchanger.exchange(st);
    expect(seen).toHaveLength(2);
    await exchanger.exchange(st, { force: true });
    expect(seen).toHaveLength(3);
  });

  it('follows a rotated cookie: reports the newest value and sends it from then on, also for the old one', async () => {
    const rotated = jwe('session-two');
    reply = (cookie) => ({
      ...live(),
      setCookie:
        cookie === st ? [`${SESSION_COOKIE_NAME}=${rotated}; Path=/; HttpOnly; Secure; SameSite=Lax`, 'oai-did=x; Path=/'] : undefined,
    });
    expect(await exchanger.exchange(st)).toMatchObject({ sessionToken: rotated });
    // The old value (an API key a client keeps using) now exchanges with the newest cookie.
    await exchanger.exchange(st, { force: true });
    expect(seen.map((request) => cookieOf(request.headers))).toEqual([st, rotated]);
    expect(await exchanger.exchange(rotated)).not.toHaveProperty('sessionToken');
  });

  it('reads a chunked cookie and ignores a cleared one', () => {
    expect(sessionCookieFrom([`${SESSION_COOKIE_NAME}.1=world; Path=/`, `${SESSION_COOKIE_NAME}.0=hello; Path=/`])).toBe('helloworld');
    expect(sessionCookieFrom([`${SESSION_COOKIE_NAME}=; Max-Age=0; Path=/`])).toBeUndefined();
    expect(sessionCookieFrom(undefined)).toBeUndefined();
  });

  it("rejects the SessionToken on next-auth's empty session and on 401, without caching", async () => {
    reply = () => ({ body: {} });
    await expect(exchanger.exchange(st)).rejects.toBeInstanceOf(SessionTokenRejectedError);
    reply = () => ({ status: 401, body: { detail: 'Unauthorized' } });
    await expect(exchanger.exchange(st)).rejects.toEqual(expect.objectContaining({ name: 'SessionTokenRejectedError', status: 401 }));
    expect(seen).toHaveLength(2);
  });

  it('reports an unavailable upstream on 5xx, a Cloudflare challenge, unreadable bodies and network errors', async () => {
    reply = () => ({ status: 502, body: 'bad gateway' });
    await expect(exchanger.exchange(st)).rejects.toEqual(expect.objectContaining({ name: 'AuthServerUnavailableError', status: 502 }));
    reply = () => ({
      status: 403,
      body: '<html>Just a moment…</html>',
      headers: { 'cf-mitigated': 'challenge', 'content-type': 'text/html' },
    });
    await expect(exchanger.exchange(st)).rejects.toBeInstanceOf(AuthServerUnavailableError);
    reply = () => ({ body: '<html>not json</html>' });
    await expect(exchanger.exchange(st)).rejects.toBeInstanceOf(AuthServerUnavailableError);
    const upstream = testUpstreamClient(testConfig({ chatgptBaseUrl: ['http://127.0.0.1:9'] }));
    try {
      await expect(new SessionTokenExchanger(clock, upstream.client).exchange(st)).rejects.toBeInstanceOf(AuthServerUnavailableError);
    } finally {
      upstream.close();
    }
  });

  it('never puts the SessionToken in an error message', async () => {
    reply = () => ({ status: 500, body: { echo: st } });
    const error = (await exchanger.exchange(st).catch((caught: Error) => caught)) as Error;
    expect(error.message).not.toContain(st);
  });
});
