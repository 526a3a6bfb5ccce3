import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import zlib from 'node:zlib';
import { readBody } from './exchange';
import { type Http1Request, sendHttp1 } from './http1-transport';
import { tricklingBody } from './testing/trickling-body';

const agent = new http.Agent({ keepAlive: true });
const TIMEOUTS: Http1Request['timeouts'] = { connectMs: 10_000, responseMs: 10_000, idleMs: 10_000 };

function call(url: string, overrides: Partial<Http1Request> = {}): Http1Request {
  return { url, method: 'GET', headers: {}, agent, decompress: true, timeouts: TIMEOUTS, ...overrides };
}

describe('sendHttp1: the upstream calls on Node’s HTTP/1.1 client', () => {
  let server: http.Server;
  let base: string;
  let handler: (request: http.IncomingMessage, response: http.ServerResponse) => void;

  beforeAll(async () => {
    server = http.createServer((request, response) => handler(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    agent.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it.each([
    ['gzip', zlib.gzipSync],
    ['br', zlib.brotliCompressSync],
    ['deflate', zlib.deflateSync],
  ])('decodes a %s answer, offers the encodings it decodes, and drops the encoding headers', async (encoding, encode) => {
    let offered: string | undefined;
    handler = (request, response) => {
      offered = request.headers['accept-encoding'];
      response.writeHead(200, { 'content-encoding': encoding, 'content-type': 'application/json' });
      response.end(encode(Buffer.from('{"ok":true}')));
    };
    const answer = await sendHttp1(call(`${base}/x`));
    expect((await readBody(answer.body)).toString()).toBe('{"ok":true}');
    expect(offered).toBe('gzip, deflate, br');
    expect(answer.headers['content-encoding']).toBeUndefined();
    expect(answer.headers['content-type']).toBe('application/json');
  });

  it('hands on the body as it was encoded when told not to decode (the gateway passes it through)', async () => {
    const gzipped = zlib.gzipSync(Buffer.from('kept'));
    handler = (_request, response) => {
      response.writeHead(200, { 'content-encoding': 'gzip' });
      response.end(gzipped);
    };
    const answer = await sendHttp1(call(`${base}/x`, { decompress: false }));
    expect(answer.headers['content-encoding']).toBe('gzip');
    expect(await readBody(answer.body)).toEqual(gzipped);
  });

  it('fails the body of an answer that is not the gzip it says it is, without throwing anywhere else', async () => {
    handler = (_request, response) => {
      response.writeHead(200, { 'content-encoding': 'gzip' });
      response.end('not gzip at all');
    };
    const answer = await sendHttp1(call(`${base}/x`));
    await expect(readBody(answer.body)).rejects.toThrow();
  });

  it('sends a body given as a stream whole, and one given at once with its length', async () => {
    const received: { body: string; length?: string; chunked?: string }[] = [];
    handler = (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({
          body: Buffer.concat(chunks).toString(),
          length: request.headers['content-length'],
          chunked: request.headers['transfer-encoding'],
        });
        response.end('ok');
      });
    };
    await readBody((await sendHttp1(call(`${base}/up`, { method: 'POST', body: Readable.from(['a', 'b', 'c']) }))).body);
    await readBody((await sendHttp1(call(`${base}/up`, { method: 'POST', body: '{"x":1}' }))).body);
    expect(received).toEqual([
      { body: 'abc', length: undefined, chunked: 'chunked' },
      { body: '{"x":1}', length: '7', chunked: undefined },
    ]);
  });

  it('leaves a streamed body it was sending alone when the call fails (it is often the client’s own request)', async () => {
    handler = (request) => request.socket.destroy();
    const source = new PassThrough();
    source.write('first part');
    const failure = sendHttp1(call(`${base}/drop`, { method: 'POST', body: source }));
    await expect(failure).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(source.destroyed).toBe(false);
    source.destroy();
  });

  it('gives up on an answer whose headers do not come within the response timeout', async () => {
    handler = () => undefined;
    const failure = sendHttp1(call(`${base}/silent`, { timeouts: { ...TIMEOUTS, responseMs: 200 } }));
    await expect(failure).rejects.toMatchObject({ code: 'ETIMEDOUT', message: "Timeout awaiting 'response' for 200ms" });
  });

  it('fails the body of an answer that goes silent after its headers, once the idle timeout passes', async () => {
    handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write('data: first\n\n');
    };
    const answer = await sendHttp1(call(`${base}/stall`, { timeouts: { ...TIMEOUTS, idleMs: 1_000 } }));
    await expect(readBody(answer.body)).rejects.toMatchObject({ code: 'ETIMEDOUT', message: "Timeout awaiting 'socket' for 1000ms" });
  });

  it('counts a streamed request body going out as activity: a slow but steady upload is not cut as idle', async () => {
    handler = (request, response) => {
      let length = 0;
      request.on('data', (chunk: Buffer) => (length += chunk.length));
      request.on('end', () => response.end(`received ${length}`));
    };
    const upload = call(`${base}/upload`, { method: 'PUT', body: tricklingBody(16, 50), timeouts: { ...TIMEOUTS, idleMs: 400 } });
    const answer = await sendHttp1(upload);
    expect((await readBody(answer.body)).toString()).toMatch(/^received \d+$/);
  });

  it('bounds the whole exchange by the total timeout, even while bytes keep arriving', async () => {
    handler = (_request, response) => {
      response.writeHead(200);
      const timer = setInterval(() => response.write('.'), 20);
      response.on('close', () => clearInterval(timer));
    };
    const answer = await sendHttp1(call(`${base}/drip`, { timeouts: { ...TIMEOUTS, totalMs: 300 } }));
    await expect(readBody(answer.body)).rejects.toMatchObject({ code: 'ETIMEDOUT', message: "Timeout awaiting 'request' for 300ms" });
  });

  it('stops at once when the caller aborts', async () => {
    handler = () => undefined;
    const controller = new AbortController();
    const failure = sendHttp1(call(`${base}/wait`, { signal: controller.signal }));
    controller.abort();
    await expect(failure).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('refuses a header value Node would not send, with Node’s code', async () => {
    await expect(sendHttp1(call(`${base}/x`, { headers: { authorization: 'Bearer bad\nvalue' } }))).rejects.toMatchObject({
      code: 'ERR_INVALID_CHAR',
    });
  });

  it('gives up on a TLS connection whose handshake never completes, after the connect timeout', async () => {
    const sockets: net.Socket[] = [];
    const mute = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    const httpsAgent = new (await import('node:https')).Agent({ keepAlive: true });
    try {
      const url = `https://127.0.0.1:${(mute.address() as AddressInfo).port}/x`;
      await expect(sendHttp1(call(url, { agent: httpsAgent, timeouts: { ...TIMEOUTS, connectMs: 200 } }))).rejects.toMatchObject({
        code: 'ETIMEDOUT',
        message: "Timeout awaiting 'connect' for 200ms",
      });
    } finally {
      httpsAgent.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => mute.close(resolve));
    }
  });
});
