import dns from 'node:dns';
import http2 from 'node:http2';
import https from 'node:https';
import net, { type AddressInfo, type LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { type SelfSigned, selfSignedCertificate } from '../../test/support/self-signed';
import { readBody, type UpstreamExchange } from './exchange';
import { HTTP1_ORIGIN_RECHECK_MS, Http2Sessions } from './http2-transport';
import { tricklingBody } from './testing/trickling-body';

const TIMEOUTS: UpstreamExchange['timeouts'] = { connectMs: 10_000, responseMs: 10_000, idleMs: 10_000 };

function call(url: string, overrides: Partial<UpstreamExchange> = {}): UpstreamExchange {
  return { url, method: 'GET', headers: {}, decompress: true, timeouts: TIMEOUTS, ...overrides };
}

type Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, session: http2.ServerHttp2Session) => void;

describe('Http2Sessions: the upstream calls on Node’s HTTP/2 client', () => {
  let tls: SelfSigned;
  let server: http2.Http2SecureServer;
  let base: string;
  let handler: Handler;
  let sessionsOpened: number;
  let sessions: Http2Sessions;
  const http1Agent = new https.Agent({ keepAlive: true });

  function serve(settings: http2.Settings = {}): Promise<void> {
    server = http2.createSecureServer({ key: tls.key, cert: tls.cert, settings });
    server.on('session', () => sessionsOpened++);
    server.on('stream', (stream, headers) => {
      // A stream the test resets fails on this side too.
      stream.on('error', () => undefined);
      handler(stream, headers, stream.session as http2.ServerHttp2Session);
    });
    return new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)).then(() => {
      base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
  }

  async function stop(): Promise<void> {
    sessions.close();
    await new Promise((resolve) => server.close(resolve));
  }

  beforeAll(() => {
    tls = selfSignedCertificate();
  });
  afterAll(() => {
    http1Agent.destroy();
    tls.remove();
  });
  beforeEach(async () => {
    sessionsOpened = 0;
    sessions = new Http2Sessions({ ca: tls.cert, idleMs: 60_000 });
    await serve();
  });
  afterEach(stop);

  it('sends the method, path, headers and body, and hands on status and headers as HTTP/1.1 has them', async () => {
    let seen: http2.IncomingHttpHeaders = {};
    let received = '';
    handler = (stream, headers) => {
      seen = headers;
      stream.on('data', (chunk) => (received += String(chunk)));
      stream.on('end', () => {
        stream.respond({ ':status': 201, 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'] });
        stream.end('{"ok":true}');
      });
    };
    const answer = await sessions.send(
      call(`${base}/backend-api/conversation?x=1`, {
        method: 'POST',
        // HTTP/2 has no such headers: a call that carries them (a forwarded browser request) still goes.
        headers: { 'Content-Type': 'application/json', connection: 'keep-alive', host: 'elsewhere', 'x-account': 'a1' },
        body: '{"q":1}',
      }),
      http1Agent,
    );
    expect(answer.status).toBe(201);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(answer.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(Object.keys(answer.headers).some((name) => name.startsWith(':'))).toBe(false);
    expect((await readBody(answer.body)).toString()).toBe('{"ok":true}');
    expect(seen[':method']).toBe('POST');
    expect(seen[':path']).toBe('/backend-api/conversation?x=1');
    expect(seen[':authority']).toBe(new URL(base).host);
    expect(seen['content-type']).toBe('application/json');
    expect(seen['x-account']).toBe('a1');
    expect(seen['accept-encoding']).toBe('gzip, deflate, br');
    expect(received).toBe('{"q":1}');
  });

  it('sends a streamed body as it is read', async () => {
    handler = (stream) => {
      let received = '';
      stream.on('data', (chunk) => (received += String(chunk)));
      stream.on('end', () => stream.end(received.toUpperCase()));
    };
    const answer = await sessions.send(call(`${base}/upload`, { method: 'PUT', body: Readable.from(['abc', 'def']) }), http1Agent);
    expect((await readBody(answer.body)).toString()).toBe('ABCDEF');
  });

  it('decodes a gzip answer, or hands it on encoded when told not to decode', async () => {
    const gzipped = zlib.gzipSync(Buffer.from('decoded'));
    handler = (stream) => {
      stream.respond({ ':status': 200, 'content-encoding': 'gzip' });
      stream.end(gzipped);
    };
    const decoded = await sessions.send(call(`${base}/x`), http1Agent);
    expect(decoded.headers['content-encoding']).toBeUndefined();
    expect((await readBody(decoded.body)).toString()).toBe('decoded');
    const kept = await sessions.send(call(`${base}/x`, { decompress: false }), http1Agent);
    expect(kept.headers['content-encoding']).toBe('gzip');
    expect(await readBody(kept.body)).toEqual(gzipped);
  });

  it('carries concurrent calls on one connection and keeps it for the next ones', async () => {
    const held: http2.ServerHttp2Stream[] = [];
    let allHeld: () => void = () => undefined;
    handler = (stream) => {
      stream.respond({ ':status': 200 });
      stream.write('first ');
      held.push(stream);
      if (held.length === 20) allHeld();
    };
    const reached = new Promise<void>((resolve) => (allHeld = resolve));
    const answers = await Promise.all(Array.from({ length: 20 }, () => sessions.send(call(`${base}/conversation`), http1Agent)));
    await reached;
    held.forEach((stream) => stream.end('last'));
    const texts = await Promise.all(answers.map(async (answer) => (await readBody(answer.body)).toString()));
    expect(new Set(texts)).toEqual(new Set(['first last']));
    handler = (stream) => stream.end('again');
    expect((await readBody((await sessions.send(call(`${base}/again`), http1Agent)).body)).toString()).toBe('again');
    expect(sessionsOpened).toBe(1);
  });

  it('opens another connection past the server’s concurrent-stream limit instead of queueing behind it', async () => {
    await stop();
    sessions = new Http2Sessions({ ca: tls.cert, idleMs: 60_000 });
    await serve({ maxConcurrentStreams: 2 });
    // The first call learns the limit from the server's SETTINGS.
    handler = (stream) => stream.end('ok');
    await readBody((await sessions.send(call(`${base}/first`), http1Agent)).body);
    const held: http2.ServerHttp2Stream[] = [];
    let allHeld: () => void = () => undefined;
    const reached = new Promise<void>((resolve) => (allHeld = resolve));
    handler = (stream) => {
      stream.respond({ ':status': 200 });
      held.push(stream);
      if (held.length === 5) allHeld();
    };
    const answers = await Promise.all(Array.from({ length: 5 }, () => sessions.send(call(`${base}/held`), http1Agent)));
    // All five reached the server while every one of them was still open: none waited for another to end.
    await reached;
    held.forEach((stream) => stream.end('done'));
    await Promise.all(answers.map((answer) => readBody(answer.body)));
    expect(sessionsOpened).toBe(3);
  });

  it('refuses a header value HTTP does not allow as the HTTP/1.1 client does, and the session carries on', async () => {
    const held: http2.ServerHttp2Stream[] = [];
    let holding: () => void = () => undefined;
    const reached = new Promise<void>((resolve) => (holding = resolve));
    handler = (stream) => {
      stream.respond({ ':status': 200 });
      held.push(stream);
      holding();
    };
    const other = await sessions.send(call(`${base}/held`), http1Agent);
    await reached;
    await expect(sessions.send(call(`${base}/x`, { headers: { authorization: 'Bearer a\nb' } }), http1Agent)).rejects.toMatchObject({
      code: 'ERR_INVALID_CHAR',
    });
    await expect(sessions.send(call(`${base}/x`, { headers: { 'bad name': 'x' } }), http1Agent)).rejects.toMatchObject({
      code: 'ERR_INVALID_HTTP_TOKEN',
    });
    held[0].end('still here');
    expect((await readBody(other.body)).toString()).toBe('still here');
    expect(sessionsOpened).toBe(1);
  });

  it('fails with a response timeout when no answer comes, and an idle timeout when the body stalls', async () => {
    handler = () => undefined;
    await expect(sessions.send(call(`${base}/x`, { timeouts: { ...TIMEOUTS, responseMs: 50 } }), http1Agent)).rejects.toMatchObject({
      name: 'TimeoutError',
      code: 'ETIMEDOUT',
      message: "Timeout awaiting 'response' for 50ms",
    });
    handler = (stream) => {
      stream.respond({ ':status': 200 });
      stream.write('part');
    };
    const answer = await sessions.send(call(`${base}/x`, { timeouts: { ...TIMEOUTS, idleMs: 80 } }), http1Agent);
    await expect(readBody(answer.body)).rejects.toMatchObject({ code: 'ETIMEDOUT', message: "Timeout awaiting 'socket' for 80ms" });
  });

  // A large file on a slow link sends for longer than the idle timeout without ever stopping (http1-transport.spec.ts).
  it('counts a streamed request body going out as activity: a slow but steady upload is not cut as idle', async () => {
    handler = (stream) => {
      let length = 0;
      stream.on('data', (chunk: Buffer) => (length += chunk.length));
      stream.on('end', () => stream.end(`received ${length}`));
    };
    const upload = call(`${base}/upload`, { method: 'PUT', body: tricklingBody(16, 50), timeouts: { ...TIMEOUTS, idleMs: 400 } });
    const answer = await sessions.send(upload, http1Agent);
    expect((await readBody(answer.body)).toString()).toMatch(/^received \d+$/);
  });

  it('fails with a total timeout over a body that keeps trickling', async () => {
    handler = (stream) => {
      stream.respond({ ':status': 200 });
      const timer = setInterval(() => stream.write('.'), 10);
      stream.on('close', () => clearInterval(timer));
    };
    const answer = await sessions.send(call(`${base}/x`, { timeouts: { ...TIMEOUTS, idleMs: 1_000, totalMs: 150 } }), http1Agent);
    await expect(readBody(answer.body)).rejects.toMatchObject({ message: "Timeout awaiting 'request' for 150ms" });
  });

  it('fails with a connect timeout when the TLS handshake never completes', async () => {
    const silent = net.createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const url = `https://127.0.0.1:${(silent.address() as AddressInfo).port}/x`;
      await expect(sessions.send(call(url, { timeouts: { ...TIMEOUTS, connectMs: 80 } }), http1Agent)).rejects.toMatchObject({
        code: 'ETIMEDOUT',
        message: "Timeout awaiting 'connect' for 80ms",
      });
    } finally {
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('reports a connection refused with Node’s code, and a certificate it does not trust', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(sessions.send(call(`https://127.0.0.1:${port}/x`), http1Agent)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const untrusting = new Http2Sessions({ idleMs: 60_000 });
    await expect(untrusting.send(call(`${base}/x`), http1Agent)).rejects.toThrow(/self-signed|certificate/i);
    untrusting.close();
  });

  it('fails a stream the server resets before answering, with the session kept for the next call', async () => {
    handler = (stream) => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    await expect(sessions.send(call(`${base}/x`), http1Agent)).rejects.toMatchObject({ code: 'ERR_HTTP2_STREAM_ERROR' });
    handler = (stream) => stream.end('fine');
    expect((await readBody((await sessions.send(call(`${base}/x`), http1Agent)).body)).toString()).toBe('fine');
    expect(sessionsOpened).toBe(1);
  });

  it('sends a stream the server refused once more (it reached no one), but not a streamed body it cannot read again', async () => {
    let streams = 0;
    handler = (stream) => {
      if (++streams % 2 === 1) stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      else stream.end('second try');
    };
    const answer = await sessions.send(call(`${base}/x`, { method: 'POST', body: '{}' }), http1Agent);
    expect((await readBody(answer.body)).toString()).toBe('second try');
    expect(streams).toBe(2);
    await expect(sessions.send(call(`${base}/x`, { method: 'POST', body: Readable.from(['{}']) }), http1Agent)).rejects.toMatchObject({
      code: 'ERR_HTTP2_STREAM_ERROR',
    });
    expect(streams).toBe(3);
  });

  it('aborts a call with its signal, waiting for its answer or for a connection', async () => {
    handler = () => undefined;
    const controller = new AbortController();
    const pending = sessions.send(call(`${base}/x`, { signal: controller.signal }), http1Agent);
    setImmediate(() => controller.abort());
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    const silent = net.createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const connecting = new AbortController();
      const url = `https://127.0.0.1:${(silent.address() as AddressInfo).port}/x`;
      const waiting = sessions.send(call(url, { signal: connecting.signal }), http1Agent);
      setImmediate(() => connecting.abort());
      await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    } finally {
      silent.close();
    }
  });

  it('opens a new session after the server’s GOAWAY, letting the old one finish its streams', async () => {
    let holding: () => void = () => undefined;
    const reached = new Promise<void>((resolve) => (holding = resolve));
    let held: http2.ServerHttp2Stream | undefined;
    handler = (stream, _headers, session) => {
      stream.respond({ ':status': 200 });
      held = stream;
      session.goaway();
      holding();
    };
    const first = await sessions.send(call(`${base}/held`), http1Agent);
    await reached;
    handler = (stream) => stream.end('new session');
    expect((await readBody((await sessions.send(call(`${base}/next`), http1Agent)).body)).toString()).toBe('new session');
    held?.end('old session');
    expect((await readBody(first.body)).toString()).toBe('old session');
    expect(sessionsOpened).toBe(2);
  });

  it('closes a session left without streams for its idle time', async () => {
    sessions.close();
    sessions = new Http2Sessions({ ca: tls.cert, idleMs: 30 });
    let closedOnServer: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => (closedOnServer = resolve));
    server.once('session', (session) => session.once('close', () => closedOnServer()));
    handler = (stream) => stream.end('ok');
    await readBody((await sessions.send(call(`${base}/x`), http1Agent)).body);
    await closed;
  });

  it('sends calls to an origin that offers only HTTP/1.1 on the https agent, and remembers it for a while', async () => {
    // Not 0: lru-cache takes a start of 0 for "no TTL".
    let clock = 1_000;
    sessions.close();
    sessions = new Http2Sessions({ ca: tls.cert, idleMs: 60_000, now: () => clock });
    const h1 = https.createServer({ key: tls.key, cert: tls.cert }, (request, response) => response.end(`h1 ${request.httpVersion}`));
    let connections = 0;
    h1.on('connection', () => connections++);
    await new Promise<void>((resolve) => h1.listen(0, '127.0.0.1', resolve));
    const agent = new https.Agent({ keepAlive: true, ca: tls.cert });
    try {
      const url = `https://127.0.0.1:${(h1.address() as AddressInfo).port}/x`;
      for (let k = 0; k < 3; k++) {
        expect((await readBody((await sessions.send(call(url), agent)).body)).toString()).toBe('h1 1.1');
      }
      // The ALPN probe's connection, then one kept alive for all three calls.
      expect(connections).toBe(2);
      clock += HTTP1_ORIGIN_RECHECK_MS;
      await readBody((await sessions.send(call(url), agent)).body);
      expect(connections).toBe(2);
      // Past that it is offered h2 again, in case it moved: a new probe, and the call still on the kept-alive connection.
      clock += 1;
      expect((await readBody((await sessions.send(call(url), agent)).body)).toString()).toBe('h1 1.1');
      expect(connections).toBe(3);
    } finally {
      agent.destroy();
      h1.closeAllConnections();
      await new Promise((resolve) => h1.close(resolve));
    }
  });

  it('looks names up with the call’s own lookup, and never puts such a call on a session opened without it', async () => {
    handler = (stream) => stream.end('ok');
    await readBody((await sessions.send(call(`${base}/x`), http1Agent)).body);
    const refusing: LookupFunction = (hostname, _options, callback) =>
      callback(Object.assign(new Error(`${hostname} is not a public address`), { code: 'EPRIVATEADDRESS' }), '');
    const named = base.replace('127.0.0.1', 'localhost');
    await expect(sessions.send(call(`${named}/x`, { dnsLookup: refusing }), http1Agent)).rejects.toMatchObject({ code: 'EPRIVATEADDRESS' });
    // An address is not looked up; the checked call to it still opens a session of its own.
    const passing: LookupFunction = (hostname, options, callback) => dns.lookup(hostname, options, callback);
    await readBody((await sessions.send(call(`${base}/y`, { dnsLookup: passing }), http1Agent)).body);
    expect(sessionsOpened).toBe(2);
  });

  it('sends a DELETE with a body, and a GET without one', async () => {
    handler = (stream, headers) => {
      let received = '';
      stream.on('data', (chunk) => (received += String(chunk)));
      stream.on('end', () => stream.end(`${String(headers[':method'])} ${received}`));
    };
    const deleted = await sessions.send(call(`${base}/x`, { method: 'DELETE', body: '{"id":1}' }), http1Agent);
    expect((await readBody(deleted.body)).toString()).toBe('DELETE {"id":1}');
    const got = await sessions.send(call(`${base}/x`), http1Agent);
    expect((await readBody(got.body)).toString()).toBe('GET ');
  });

  it.each([
    // Node's client ends such a stream as if it were whole, with the reset's code beside it.
    ['its connection drops', (stream: http2.ServerHttp2Stream) => stream.session?.destroy()],
    ['it resets the stream with an error', (stream: http2.ServerHttp2Stream) => stream.destroy(new Error('upstream failed'))],
  ])('fails the body of an answer cut midway (%s), rather than ending it as if it were whole', async (_case, cut) => {
    handler = (stream) => {
      stream.respond({ ':status': 200 });
      stream.write('partial-', () => setImmediate(() => cut(stream)));
    };
    const answer = await sessions.send(call(`${base}/x`), http1Agent);
    await expect(readBody(answer.body)).rejects.toMatchObject({ code: expect.stringMatching(/^(ECONNRESET|ERR_HTTP2_STREAM_ERROR)$/) });
  });

  it('lets go of a stream whose body the caller stopped reading, after the idle time', async () => {
    let closedOnServer: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => (closedOnServer = resolve));
    handler = (stream) => {
      stream.once('close', () => closedOnServer());
      stream.respond({ ':status': 200 });
      // More than the flow-control windows and the body's buffer hold: the stream cannot finish unread.
      stream.end(Buffer.alloc(4 << 20, 'x'));
    };
    const answer = await sessions.send(call(`${base}/x`, { timeouts: { ...TIMEOUTS, idleMs: 1_000 } }), http1Agent);
    const failed = new Promise<Error>((resolve) => answer.body.once('error', resolve));
    expect(await failed).toMatchObject({ code: 'ETIMEDOUT', message: "Timeout awaiting 'socket' for 1000ms" });
    await closed;
    // The session is free for the next call.
    handler = (stream) => stream.end('next');
    expect((await readBody((await sessions.send(call(`${base}/next`), http1Agent)).body)).toString()).toBe('next');
    expect(sessionsOpened).toBe(1);
  });

  it('refuses a pseudo-header among the call’s headers', async () => {
    handler = (stream) => stream.end('never');
    await expect(sessions.send(call(`${base}/x`, { headers: { ':path': '/elsewhere' } }), http1Agent)).rejects.toMatchObject({
      code: 'ERR_INVALID_HTTP_TOKEN',
    });
  });

  it('fails a call, without opening connections without end, to a server that takes no stream', async () => {
    await stop();
    sessions = new Http2Sessions({ ca: tls.cert, idleMs: 60_000 });
    await serve({ maxConcurrentStreams: 0 });
    await expect(sessions.send(call(`${base}/x`), http1Agent)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(sessionsOpened).toBeLessThanOrEqual(3);
  });

  it('takes a new session for a call made as an idle session closes', async () => {
    sessions.close();
    sessions = new Http2Sessions({ ca: tls.cert, idleMs: 30 });
    handler = (stream) => stream.end('ok');
    const second = new Promise<string>((resolve, reject) => {
      // The server hears the idle session's GOAWAY: the client has just started closing it.
      server.once('session', (session) =>
        session.once('goaway', () => {
          sessions
            .send(call(`${base}/during-close`), http1Agent)
            .then((answer) => readBody(answer.body))
            .then((text) => resolve(text.toString()), reject);
        }),
      );
    });
    await readBody((await sessions.send(call(`${base}/x`), http1Agent)).body);
    expect(await second).toBe('ok');
  });

  it('ends the wait for a connection at the total deadline, and leaves no failure unhandled when a call gave up on it', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const silent = net.createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const url = `https://127.0.0.1:${(silent.address() as AddressInfo).port}/x`;
      await expect(sessions.send(call(url, { timeouts: { ...TIMEOUTS, connectMs: 300, totalMs: 50 } }), http1Agent)).rejects.toMatchObject({
        code: 'ETIMEDOUT',
        message: "Timeout awaiting 'request' for 50ms",
      });
      // Aborted before it starts: the connection it opens fails (refused here) with no one waiting for it.
      const closed = net.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise((resolve) => closed.close(resolve));
      await expect(sessions.send(call(`https://127.0.0.1:${port}/x`, { signal: AbortSignal.abort() }), http1Agent)).rejects.toMatchObject({
        name: 'AbortError',
      });
      // Long enough for the connect above (300 ms at most) to have failed, and for Node to report an unhandled rejection.
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

/**
 * A connection that dies without a word (a NAT or middlebox drops it: no FIN, no RST, no GOAWAY) must not keep taking
 * calls: each would time out in turn until the kernel gives up on the TCP connection, some 15 minutes later.
 */
describe('Http2Sessions after their connection goes silent', () => {
  let tls: SelfSigned;
  let server: http2.Http2SecureServer;
  let relay: net.Server;
  let base: string;
  let sessionsOpened = 0;
  const relayed: net.Socket[] = [];
  const frozen = new Set<net.Socket>();
  const http1Agent = new https.Agent({ keepAlive: true });
  const timeouts: UpstreamExchange['timeouts'] = { connectMs: 2_000, responseMs: 300, idleMs: 2_000 };

  beforeAll(async () => {
    tls = selfSignedCertificate();
    server = http2.createSecureServer({ key: tls.key, cert: tls.cert });
    server.on('session', () => sessionsOpened++);
    server.on('stream', (stream, headers) => {
      stream.on('error', () => undefined);
      if (headers[':path'] === '/never') return;
      stream.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const target = (server.address() as AddressInfo).port;
    // The network path: a frozen connection loses its bytes both ways and is never closed.
    relay = net.createServer((client) => {
      const upstream = net.connect(target, '127.0.0.1');
      relayed.push(client, upstream);
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
      client.on('data', (chunk) => frozen.has(client) || upstream.write(chunk));
      upstream.on('data', (chunk) => frozen.has(client) || client.write(chunk));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(relay.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const socket of relayed) socket.destroy();
    http1Agent.destroy();
    await new Promise((resolve) => relay.close(resolve));
    await new Promise((resolve) => server.close(resolve));
    tls.remove();
  });
  beforeEach(() => (sessionsOpened = 0));

  const text = async (sessions: Http2Sessions, path: string) =>
    (await readBody((await sessions.send(call(`${base}${path}`, { timeouts }), http1Agent)).body)).toString();

  // The PING's deadline is at least 5 s (MIN_LIVENESS_DEADLINE_MS), which the calls after it wait for.
  it('retires a session that receives nothing, not even its PING’s answer, after a timeout, and puts the next calls on a fresh one', async () => {
    const sessions = new Http2Sessions({ ca: tls.cert, idleMs: 60_000 });
    try {
      expect(await text(sessions, '/first')).toBe('ok');
      for (const socket of relayed) frozen.add(socket);
      await expect(text(sessions, '/lost')).rejects.toMatchObject({ code: 'ETIMEDOUT' });
      expect([await text(sessions, '/after-1'), await text(sessions, '/after-2')]).toEqual(['ok', 'ok']);
      expect(sessionsOpened).toBe(2);
    } finally {
      sessions.close();
    }
  }, 15_000);

  it('keeps a session whose stream timed out while the connection still answers its PING', async () => {
    const sessions = new Http2Sessions({ ca: tls.cert, idleMs: 60_000 });
    try {
      expect(await text(sessions, '/first')).toBe('ok');
      await expect(text(sessions, '/never')).rejects.toMatchObject({ code: 'ETIMEDOUT', message: "Timeout awaiting 'response' for 300ms" });
      expect(await text(sessions, '/next')).toBe('ok');
      expect(sessionsOpened).toBe(1);
    } finally {
      sessions.close();
    }
  });
});

// On a busy uplink (an upload fills the flow-control window) the liveness PING waits behind the upload's bytes, and
// so does a short call's request, whose response deadline fires and sends that PING: its answer comes late.
describe('Http2Sessions with a busy uplink', () => {
  let tls: SelfSigned;
  let server: http2.Http2SecureServer;
  let relay: net.Server;
  let base: string;
  const sockets: net.Socket[] = [];
  const http1Agent = new https.Agent({ keepAlive: true });
  /** Client-to-server bytes per second through the relay (a slow uplink). */
  const RATE = 256 * 1024;

  beforeAll(async () => {
    tls = selfSignedCertificate();
    // A server with generous windows, as large upstream fronts have.
    server = http2.createSecureServer({ key: tls.key, cert: tls.cert, settings: { initialWindowSize: 1 << 20 } });
    server.on('session', (session) => session.on('connect', () => session.setLocalWindowSize(16 << 20)));
    server.on('stream', (stream, headers) => {
      stream.on('error', () => undefined);
      if (headers[':path'] === '/upload') {
        let length = 0;
        stream.on('data', (chunk: Buffer) => (length += chunk.length));
        stream.on('end', () => stream.end(`received ${length}`));
        return;
      }
      stream.end('quick');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const target = (server.address() as AddressInfo).port;
    relay = net.createServer((client) => {
      const upstream = net.connect(target, '127.0.0.1');
      sockets.push(client, upstream);
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
      upstream.pipe(client);
      // Uplink throttled: at most RATE bytes a second go on to the server, in order.
      const queue: Buffer[] = [];
      let queued = 0;
      client.on('data', (chunk: Buffer) => {
        queue.push(chunk);
        queued += chunk.length;
        if (queued > 64 * 1024) client.pause();
      });
      const pump = setInterval(() => {
        let budget = Math.floor(RATE / 20);
        while (budget > 0 && queue.length > 0) {
          const head = queue[0];
          const part = head.subarray(0, budget);
          upstream.write(part);
          budget -= part.length;
          queued -= part.length;
          if (part.length === head.length) queue.shift();
          else queue[0] = head.subarray(part.length);
        }
        if (queued <= 64 * 1024) client.resume();
      }, 50);
      client.on('close', () => {
        clearInterval(pump);
        upstream.destroy();
      });
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(relay.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    http1Agent.destroy();
    await new Promise((resolve) => relay.close(resolve));
    await new Promise((resolve) => server.close(resolve));
    tls.remove();
  });

  it('does not destroy a live session, and the upload on it, because a short call timed out behind the upload', async () => {
    const sessions = new Http2Sessions({ ca: tls.cert, idleMs: 60_000 });
    const timeouts: UpstreamExchange['timeouts'] = { connectMs: 1_000, responseMs: 1_000, idleMs: 10_000 };
    const callTo = (path: string, overrides: Partial<UpstreamExchange> = {}) => call(`${base}${path}`, { timeouts, ...overrides });
    try {
      expect((await readBody((await sessions.send(callTo('/warm'), http1Agent)).body)).toString()).toBe('quick');
      // 1.5 MB at 256 KB/s: some 6 s of a steady upload, never idle.
      const upload = sessions.send(
        callTo('/upload', { method: 'PUT', body: Buffer.alloc(1536 * 1024, 1), timeouts: { ...timeouts, responseMs: 30_000 } }),
        http1Agent,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      // A short call meanwhile (a sentinel call): its request waits behind the upload's bytes, and may time out.
      await sessions.send(callTo('/quick'), http1Agent).then(
        (answer) => readBody(answer.body),
        () => undefined,
      );
      const answer = await upload;
      expect((await readBody(answer.body)).toString()).toBe(`received ${1536 * 1024}`);
    } finally {
      sessions.close();
    }
  });
});
