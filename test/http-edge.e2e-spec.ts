import { createServer, Server } from 'node:http';
import { AddressInfo, connect, Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { applyServerLimits } from '../src/common/http/server-limits';
import { AppConfig } from '../src/config/app-config';
import { sseData, Stack, startStack } from './support/stack';

jest.setTimeout(120_000);

const PREFIX = 'secret-prefix-4Kq';
const ADMIN_KEY = 'admin-secret-for-edge-tests';
const ask = (content: string) => ({ model: 'gpt-4o', messages: [{ role: 'user', content }] });

interface RawResponse {
  status: number;
  headers: string;
  body: string;
}

/** Sends `head` and `body` as they are (any request target) on a fresh socket and reads the answer until the server closes. */
function rawExchange(url: string, head: string, body: Buffer | string = ''): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(parseResponse(Buffer.concat(chunks).toString('utf8'))));
    socket.write(head);
    socket.write(body);
  });
}

function parseResponse(text: string): RawResponse {
  const split = text.indexOf('\r\n\r\n');
  const headers = text.slice(0, split);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)?.[1] ?? 0), headers, body: text.slice(split + 4) };
}

function raw(
  url: string,
  method: string,
  target: string,
  options: { headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<RawResponse> {
  const body = options.body ?? '';
  const headers = { host: 'localhost', connection: 'close', 'content-length': String(Buffer.byteLength(body)), ...options.headers };
  const head = `${method} ${target} HTTP/1.1\r\n${Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')}\r\n`;
  return rawExchange(url, head, body);
}

const json = (response: RawResponse) =>
  JSON.parse(response.body) as { error: { code: string; type: string; message: string } } & Record<string, unknown>;

describe('API_PREFIX cannot be skipped by another spelling of the path', () => {
  let stack: Stack;
  let bearer: Record<string, string>;

  beforeAll(async () => {
    stack = await startStack({ env: { API_PREFIX: PREFIX } });
    bearer = { authorization: `Bearer ${stack.fake.createAccessToken()}` };
  });
  afterAll(() => stack.close());

  it.each([
    ['GET', '/V1/models'],
    ['GET', 'http://anything/v1/models'],
    ['GET', 'HTTP://anything/V1/models'],
    ['GET', '/%761/models'],
    ['GET', '/%56%31/models'],
    ['GET', '//v1/models'],
    ['GET', '/v1//models'],
    ['GET', `/${PREFIX.toUpperCase()}/v1/models`],
    ['GET', `/${PREFIX}/V1/models`],
    ['POST', '/V1/chat/completions'],
    ['POST', 'http://anything/v1/chat/completions'],
    ['POST', 'http://anything:80/%76%31/chat/completions'],
  ])('%s %s is not served without the prefix', async (method, target) => {
    const response = await raw(stack.url, method, target, {
      headers: { ...bearer, 'content-type': 'application/json' },
      body: method === 'POST' ? JSON.stringify(ask('hi')) : '',
    });
    expect(response.status).toBe(404);
    expect(json(response).error.code).toBe('unknown_url');
  });

  it.each([
    '/x/../v1/models',
    `/${PREFIX}/./v1/models`,
    `/${PREFIX}/%2e%2e/v1/models`,
    `/${PREFIX}%2fv1/models`,
    `/${PREFIX}%2Fv1/models`,
    `/${PREFIX}/v1%5cmodels`,
    'http://anything/x/%2E./v1/models',
  ])('refuses the malformed target %s with 400', async (target) => {
    const response = await raw(stack.url, 'GET', target, { headers: bearer });
    expect(response.status).toBe(400);
    expect(json(response).error.code).toBe('invalid_request_target');
  });

  it.each([`/${PREFIX}/v1/models`, `http://anything/${PREFIX}/v1/models`, `/${PREFIX}//v1/models`, `/${PREFIX}/%76%31/models`])(
    'serves the prefixed path %s',
    async (target) => {
      const response = await raw(stack.url, 'GET', target, { headers: bearer });
      expect(response.status).toBe(200);
      expect(json(response).object).toBe('list');
    },
  );

  it('answers an absolute-form chat request with the prefix', async () => {
    const response = await raw(stack.url, 'POST', `http://anything/${PREFIX}/v1/chat/completions`, {
      headers: { ...bearer, 'content-type': 'application/json' },
      body: JSON.stringify(ask('hi')),
    });
    expect(response.status).toBe(200);
    expect(json(response).object).toBe('chat.completion');
  });

  it.each([`/${PREFIX}/v1/chat/completions`, `http://anything/${PREFIX}/v1/chat/completions`, `/${PREFIX}/%761/chat/completions`])(
    'refuses a non-JSON body at %s with 415',
    async (target) => {
      const response = await raw(stack.url, 'POST', target, {
        headers: { ...bearer, 'content-type': 'text/plain' },
        body: JSON.stringify(ask('hi')),
      });
      expect(response.status).toBe(415);
      expect(json(response).error.code).toBe('unsupported_media_type');
    },
  );

  it('locks a guessing address out of every spelling of the prefixed path', async () => {
    const guesser = await startStack({ env: { API_PREFIX: PREFIX }, fakeUpstream: stack.fake });
    try {
      for (let miss = 0; miss < 20; miss++) {
        const target = miss % 2 === 0 ? `/wrong-${miss}/v1/models` : `http://anything/wrong-${miss}/v1/models`;
        expect((await raw(guesser.url, 'GET', target, { headers: bearer })).status).toBe(404);
      }
      for (const target of [
        `/${PREFIX}/v1/models`,
        `http://anything/${PREFIX}/v1/models`,
        `/${PREFIX}/%76%31/models`,
        `//${PREFIX}/v1/models`,
      ]) {
        const response = await raw(guesser.url, 'GET', target, { headers: bearer });
        expect(response.status).toBe(429);
        expect(response.headers).toMatch(/^retry-after: \d+/im);
      }
    } finally {
      await guesser.close();
    }
  });
});

describe('the HTTP edge without API_PREFIX', () => {
  let stack: Stack;
  let token: string;

  beforeAll(async () => {
    stack = await startStack({ env: { ADMIN_KEY, MAX_SMALL_BODY_SIZE: '64kb' } });
    token = stack.fake.createAccessToken();
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.fake.reset());

  const chat = (body: string | Buffer, headers: Record<string, string> = {}) =>
    request(stack.url)
      .post('/v1/chat/completions')
      .set({ authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers })
      .send(body);

  it('applies the 415 check to an absolute-form target', async () => {
    const response = await raw(stack.url, 'POST', 'http://anything/v1/chat/completions', {
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
      body: JSON.stringify(ask('hi')),
    });
    expect(response.status).toBe(415);
  });

  it.each(['/static/flowgpt.css?x[y][z]=1', 'http://LOCALHOST/static/flowgpt.css?x[y][z]=1', 'http://anything:80/static//flowgpt.css'])(
    'serves a static file at %s (mounted paths see the normal form too)',
    async (target) => {
      const response = await raw(stack.url, 'GET', target);
      expect(response.status).toBe(200);
      expect(response.headers).toMatch(/content-type: text\/css/i);
      expect(response.body.length).toBeGreaterThan(0);
    },
  );

  it('refuses a malformed absolute-form target to a static file with 400', async () => {
    const response = await raw(stack.url, 'GET', 'http://anything/static/../flowgpt.css');
    expect(response.status).toBe(400);
    expect(json(response).error.code).toBe('invalid_request_target');
  });

  it('does not route /V1 (routing is case-sensitive like our checks)', async () => {
    const response = await request(stack.url).get('/V1/models').set('authorization', `Bearer ${token}`);
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe('unknown_url');
  });

  describe('Content-Encoding', () => {
    it.each(['gzip', 'deflate', 'br'])('answers a body that is not really %s with 400 in the API error shape', async (encoding) => {
      const response = await chat(JSON.stringify(ask('hi')), { 'content-encoding': encoding });
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_body' });
    });

    it('refuses an encoding it does not decode with 415', async () => {
      const response = await chat(JSON.stringify(ask('hi')), { 'content-encoding': 'compress' });
      expect(response.status).toBe(415);
      expect(response.body.error.code).toBe('unsupported_encoding');
    });

    it('answers the same on admin routes', async () => {
      const response = await request(stack.url)
        .post('/admin/api/refresh')
        .set({ authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', 'content-encoding': 'gzip' })
        .send('{"force":true}');
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('invalid_body');
    });

    it('checks the credentials before it decodes anything', async () => {
      const response = await request(stack.url)
        .post('/v1/chat/completions')
        .set({ 'content-type': 'application/json', 'content-encoding': 'gzip' })
        .send('not gzip');
      expect(response.status).toBe(401);
    });

    it('still accepts a body that really is gzip', async () => {
      const response = await raw(stack.url, 'POST', '/v1/chat/completions', {
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body: gzipSync(JSON.stringify(ask('hi'))),
      });
      expect(response.status).toBe(200);
      expect(json(response).choices).toEqual([
        expect.objectContaining({ message: { role: 'assistant', content: 'Hello! How can I help you today?' } }),
      ]);
    });
  });

  describe('JSON nesting depth', () => {
    const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

    it('refuses a chat body nested 5,000 deep with 400, not a stack overflow', async () => {
      const response = await chat(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"extra":${nested(5000)}}`);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('json_too_deep');
    });

    it('refuses an admin body nested 5,000 deep with 400', async () => {
      const response = await request(stack.url)
        .post('/admin/api/tokens')
        .set({ authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' })
        .send(`{"tokens":${nested(5000)}}`);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('json_too_deep');
    });

    it('does not count brackets inside strings, and accepts ordinary nesting', async () => {
      const response = await chat(JSON.stringify({ ...ask('['.repeat(5000)), extra: JSON.parse(nested(40)) }));
      expect(response.status).toBe(200);
    });
  });

  describe('body limits: authenticate and route first, read only what the route allows', () => {
    const largeDeclaredBody = 18 * 1024 * 1024;

    /** Announces an 18 MB body but sends only its first 64 KB, then waits for the server to answer and close. */
    function sendPartOfLargeBody(
      target: string,
      headers: Record<string, string> = {},
    ): Promise<{ response: RawResponse; closed: boolean }> {
      const { hostname, port } = new URL(stack.url);
      return new Promise((resolve, reject) => {
        const socket: Socket = connect(Number(port), hostname);
        const chunks: Buffer[] = [];
        socket.on('data', (chunk) => chunks.push(chunk));
        socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? undefined : reject(error)));
        socket.on('close', () => resolve({ response: parseResponse(Buffer.concat(chunks).toString('utf8')), closed: true }));
        const extra = Object.entries(headers)
          .map(([name, value]) => `${name}: ${value}\r\n`)
          .join('');
        socket.write(
          `POST ${target} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${largeDeclaredBody}\r\n${extra}\r\n`,
        );
        socket.write(`{"model":"gpt-4o","messages":[{"role":"user","content":"${'x'.repeat(64 * 1024)}`);
      });
    }

    it('answers 401 to an unauthenticated large body without reading it, and closes the connection', async () => {
      // The client stops sending after 64 KB of its 18 MB: the server answers at once and cuts the connection after
      // its linger time, instead of waiting for (or buffering) the rest.
      const { response, closed } = await sendPartOfLargeBody('/v1/chat/completions');
      expect(response.status).toBe(401);
      expect(JSON.parse(response.body).error.code).toBe('invalid_api_key');
      expect(closed).toBe(true);
    });

    it('answers 401 on the admin API and 404 on unknown paths without reading the body', async () => {
      expect((await sendPartOfLargeBody('/admin/api/tokens')).response.status).toBe(401);
      expect((await sendPartOfLargeBody('/admin/api/tokens', { authorization: 'Bearer wrong-admin-secret' })).response.status).toBe(401);
      expect((await sendPartOfLargeBody('/nowhere/at/all')).response.status).toBe(404);
    });

    it('answers 413 at once when a small-limit route is announced a large body', async () => {
      const { response } = await sendPartOfLargeBody('/admin/api/refresh', { authorization: `Bearer ${ADMIN_KEY}` });
      expect(response.status).toBe(413);
      expect(JSON.parse(response.body).error.code).toBe('request_too_large');
      expect(JSON.parse(response.body).error.message).toBe('The request body is too large: more than 65536 bytes (MAX_SMALL_BODY_SIZE).');
    });

    it('refuses a body above MAX_SMALL_BODY_SIZE on a small-limit route with 413', async () => {
      const response = await request(stack.url)
        .post('/admin/api/refresh')
        .set({ authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' })
        .send(JSON.stringify({ force: true, padding: 'x'.repeat(200 * 1024) }));
      expect(response.status).toBe(413);
      expect(response.body.error.code).toBe('request_too_large');
      // What the limit is, and which setting sets it: the admin splits a token file, or the operator raises it.
      expect(response.body.error.message).toBe('The request body is too large: more than 65536 bytes (MAX_SMALL_BODY_SIZE).');
    });

    it('accepts a large authenticated chat body (up to MAX_BODY_SIZE)', async () => {
      const response = await chat(JSON.stringify(ask(`${'word '.repeat(60 * 1024)}`)));
      expect(response.status).toBe(200);
      expect(response.body.choices[0].message.content).toBe('Hello! How can I help you today?');
    });

    it('accepts a large admin token upload', async () => {
      const tokens = Array.from({ length: 400 }, (_, index) => `not-a-token-${index}-${'x'.repeat(500)}`);
      const response = await request(stack.url)
        .post('/admin/api/tokens')
        .set({ authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' })
        .send(JSON.stringify({ tokens }));
      expect(response.status).toBe(200);
      expect(response.body.invalid).toBeDefined();
    });
  });

  describe('forwarded headers without TRUSTED_PROXIES', () => {
    it('keeps counting prefix guesses against the real address whatever X-Forwarded-For says', async () => {
      const guesser = await startStack({ env: { API_PREFIX: PREFIX }, fakeUpstream: stack.fake });
      try {
        for (let miss = 0; miss < 20; miss++) {
          await request(guesser.url).get(`/wrong-${miss}/v1/models`).set('x-forwarded-for', `203.0.113.${miss}`).expect(404);
        }
        const response = await request(guesser.url)
          .get(`/${PREFIX}/v1/models`)
          .set({ authorization: `Bearer ${token}`, 'x-forwarded-for': '198.51.100.7' });
        expect(response.status).toBe(429);
      } finally {
        await guesser.close();
      }
    });

    it('does not let X-Forwarded-Host vouch for an evil Origin', async () => {
      const response = await request(stack.url)
        .post('/admin/login')
        .set({
          origin: 'https://evil.example',
          'x-forwarded-host': 'evil.example',
          'x-forwarded-proto': 'https',
          accept: 'application/json',
        })
        .type('form')
        .send({ secret: 'wrong-secret' });
      expect(response.status).toBe(403);
      expect(response.body.error.code).toBe('cross_site_request');
    });
  });
});

describe('forwarded headers from a proxy in TRUSTED_PROXIES', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ env: { ADMIN_KEY, API_PREFIX: PREFIX, TRUSTED_PROXIES: '127.0.0.1, ::1' } });
  });
  afterAll(() => stack.close());

  it('counts prefix guesses against the forwarded client address', async () => {
    const token = stack.fake.createAccessToken();
    for (let miss = 0; miss < 20; miss++) {
      await request(stack.url).get(`/wrong-${miss}/v1/models`).set('x-forwarded-for', '203.0.113.9').expect(404);
    }
    const locked = await request(stack.url)
      .get(`/${PREFIX}/v1/models`)
      .set({ authorization: `Bearer ${token}`, 'x-forwarded-for': '203.0.113.9' });
    expect(locked.status).toBe(429);
    const other = await request(stack.url)
      .get(`/${PREFIX}/v1/models`)
      .set({ authorization: `Bearer ${token}`, 'x-forwarded-for': '198.51.100.7' });
    expect(other.status).toBe(200);
  });

  it('takes the site’s host from the proxy’s X-Forwarded-Host', async () => {
    const response = await request(stack.url)
      .post('/admin/login')
      .set({
        origin: 'https://chat.example.com',
        'x-forwarded-host': 'chat.example.com',
        'x-forwarded-proto': 'https',
        accept: 'application/json',
      })
      .type('form')
      .send({ secret: 'wrong-secret' });
    // Past the origin check: the secret itself is what is refused.
    expect(response.status).toBe(401);
  });
});

describe('server limits', () => {
  it('applies the configured values to the server', async () => {
    const stack = await startStack({
      env: { MAX_CONNECTIONS: '123', HEADERS_TIMEOUT_MS: '4000', REQUEST_TIMEOUT_MS: '9000', HTTP_KEEPALIVE_TIMEOUT_MS: '7000' },
    });
    try {
      const server = stack.app.getHttpServer();
      applyServerLimits(server, stack.app.get(AppConfig));
      expect(server.maxConnections).toBe(123);
      expect(server.headersTimeout).toBe(4000);
      expect(server.requestTimeout).toBe(9000);
      expect(server.keepAliveTimeout).toBe(7000);
    } finally {
      await stack.close();
    }
  });

  describe('on a running app', () => {
    let stack: Stack;
    let server: Server;
    let url: string;
    const limits = { maxConnections: 50, headersTimeoutMs: 300, requestTimeoutMs: 600, httpKeepAliveTimeoutMs: 5000 };

    beforeAll(async () => {
      stack = await startStack({ fake: { chunkDelayMs: 0 } });
      // The app's Express handler on a server that checks its timeouts often, so the test needs no long waits.
      server = createServer({ connectionsCheckingInterval: 50 }, stack.app.getHttpAdapter().getInstance());
      applyServerLimits(server, limits);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await stack.close();
    });

    it('cuts a client that sends its headers too slowly with 408', async () => {
      const response = await rawExchange(url, 'GET /healthz HTTP/1.1\r\nhost: localhost\r\n');
      expect(response.status).toBe(408);
    });

    it('cuts a connection that sends nothing', async () => {
      const response = await rawExchange(url, '');
      expect(response.status).toBe(408);
    });

    it('does not cut an answer that streams longer than the request timeout', async () => {
      stack.fake.enqueue({
        kind: 'text',
        text: 'A slow answer that keeps streaming well past the request timeout.',
        chunks: 8,
        delayMs: 250,
      });
      const response = await request(url)
        .post('/v1/chat/completions')
        .set('authorization', `Bearer ${stack.fake.createAccessToken()}`)
        .send({ ...ask('slow'), stream: true });
      expect(response.status).toBe(200);
      const data = sseData(response.text);
      expect(data.at(-1)).toBe('[DONE]');
      const text = data
        .slice(0, -1)
        .map((line) => (JSON.parse(line) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '')
        .join('');
      expect(text).toBe('A slow answer that keeps streaming well past the request timeout.');
    });
  });
});
