import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import WebSocket, { WebSocketServer } from 'ws';
import { GracefulShutdown } from '../src/common/lifecycle/graceful-shutdown.service';
import { FakeUpstream } from './fake-upstream/fake-upstream';
import { GatewayStack, startGateway } from './support/gateway-stack';
import { http, ServerProcess, startServer, stopAllServers } from './support/process';
import { sseData } from './support/stack';

jest.setTimeout(180_000);

interface OpenStream {
  /** Resolves with the whole body once the server ends the response. */
  body: Promise<string>;
  /** Resolves once the first data event has arrived (the stream is open and registered). */
  started: Promise<void>;
}

/** A streaming chat completion read with a raw HTTP client, so we see exactly the bytes the server sent. */
function openStream(server: ServerProcess, token: string): OpenStream {
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const body = new Promise<string>((resolve, reject) => {
    const payload = JSON.stringify({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'take your time' }] });
    const req = httpRequest(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('data: ')) markStarted();
      });
      res.on('end', () => resolve(text));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
  return { body, started };
}

function connectionRefused(url: string): Promise<boolean> {
  return http('GET', `${url}/healthz`, { timeoutMs: 10_000 }).then(
    () => false,
    (error: NodeJS.ErrnoException) => error.code === 'ECONNREFUSED',
  );
}

describe('graceful shutdown on SIGTERM (real server process)', () => {
  let fake: FakeUpstream;
  let dataDir: string;

  beforeAll(async () => {
    fake = await FakeUpstream.start();
    dataDir = mkdtempSync(join(tmpdir(), 'flowgpt-shutdown-'));
  });
  afterAll(async () => {
    await stopAllServers();
    await fake.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const start = (graceMs: number) =>
    startServer({
      CHATGPT_BASE_URL: fake.url,
      AUTH_BASE_URL: fake.url,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      POW_WORKERS: '1',
      SHUTDOWN_GRACE_MS: String(graceMs),
    });

  it('lets an open stream finish within the grace period, refuses new connections meanwhile, and exits 0', async () => {
    const server = await start(120_000);
    // About 4 s of answer: still streaming when SIGTERM arrives, well within the grace.
    fake.enqueue({ kind: 'text', text: 'one two three four five six seven eight nine ten', chunks: 10, delayMs: 400 });
    const stream = openStream(server, fake.createAccessToken());
    await stream.started;
    server.child.kill('SIGTERM');
    const order: string[] = [];
    const [refused, body, exit] = await Promise.all([
      // Give the process a moment to handle the signal before probing.
      new Promise((resolve) => setTimeout(resolve, 300))
        .then(() => connectionRefused(server.url))
        .finally(() => order.push('probe answered')),
      stream.body.finally(() => order.push('stream ended')),
      server.exited().finally(() => order.push('exited')),
    ]);
    expect(refused).toBe(true);
    // Refused while the stream was still being delivered, and the process waited for the stream.
    expect(order).toEqual(['probe answered', 'stream ended', 'exited']);
    const events = sseData(body);
    expect(events[events.length - 1]).toBe('[DONE]');
    const text = events
      .slice(0, -1)
      .map((event) => JSON.parse(event) as { choices?: { delta?: { content?: string } }[]; error?: unknown })
      .map((event) => {
        expect(event.error).toBeUndefined();
        return event.choices?.[0]?.delta?.content ?? '';
      })
      .join('');
    expect(text).toBe('one two three four five six seven eight nine ten');
    expect(exit).toEqual({ code: 0, signal: null });
  });

  it('ends a stream still open after the grace period with an in-band error event and [DONE], then exits 0', async () => {
    const server = await start(200);
    fake.enqueue({ kind: 'stall', text: 'this answer never ends', afterChunks: 1, stallMs: 120_000 });
    const stream = openStream(server, fake.createAccessToken());
    await stream.started;
    server.child.kill('SIGTERM');
    const [body, exit] = await Promise.all([stream.body, server.exited()]);
    const events = sseData(body);
    expect(events[events.length - 1]).toBe('[DONE]');
    expect(JSON.parse(events[events.length - 2])).toEqual({
      error: { message: expect.stringContaining('shutting down'), type: 'server_error', param: null, code: 'server_shutting_down' },
    });
    expect(exit).toEqual({ code: 0, signal: null });
    expect(server.output()).toContain('ended with an error event');
  });

  /** Sends a non-streamed chat; resolves once the upstream has its conversation request, with the answer to come. */
  async function chatInFlight(server: ServerProcess): Promise<{ answer: ReturnType<typeof http> }> {
    const before = fake.conversationRequests().length;
    const answer = http('POST', `${server.url}/v1/chat/completions`, {
      headers: { authorization: `Bearer ${fake.createAccessToken()}` },
      json: { model: 'gpt-4o', messages: [{ role: 'user', content: 'take your time' }] },
      timeoutMs: 170_000,
    });
    while (fake.conversationRequests().length === before) await new Promise((resolve) => setTimeout(resolve, 20));
    return { answer };
  }

  it('lets a request whose answer has not started yet finish within the grace period too', async () => {
    const server = await start(120_000);
    fake.enqueue({ kind: 'text', text: 'one two three four five six', chunks: 6, delayMs: 300 });
    const { answer } = await chatInFlight(server);
    server.child.kill('SIGTERM');
    const [reply, exit] = await Promise.all([answer, server.exited()]);
    expect(reply.status).toBe(200);
    expect((reply.json as { choices: { message: { content: string } }[] }).choices[0].message.content).toBe('one two three four five six');
    expect(exit).toEqual({ code: 0, signal: null });
  });

  it('answers such a request 503 server_shutting_down once the grace period is over, then exits 0', async () => {
    const server = await start(200);
    fake.enqueue({ kind: 'stall', text: 'this answer never ends', afterChunks: 1, stallMs: 120_000 });
    const { answer } = await chatInFlight(server);
    server.child.kill('SIGTERM');
    const [reply, exit] = await Promise.all([answer, server.exited()]);
    expect(reply.status).toBe(503);
    expect(reply.json).toEqual({
      error: { message: expect.stringContaining('shutting down'), type: 'server_error', param: null, code: 'server_shutting_down' },
    });
    expect(exit).toEqual({ code: 0, signal: null });
  });

  it('exits 0 on SIGINT with nothing open, and the store keeps what was uploaded before', async () => {
    const server = await startServer({
      CHATGPT_BASE_URL: fake.url,
      AUTH_BASE_URL: fake.url,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      ADMIN_KEY: 'shutdown-admin-key',
    });
    const upload = await http('POST', `${server.url}/admin/api/tokens`, {
      headers: { authorization: 'Bearer shutdown-admin-key' },
      json: { tokens: [fake.createAccessToken()] },
    });
    expect(upload.status).toBe(200);
    server.child.kill('SIGINT');
    expect(await server.exited()).toEqual({ code: 0, signal: null });
    const again = await startServer({
      CHATGPT_BASE_URL: fake.url,
      AUTH_BASE_URL: fake.url,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      ADMIN_KEY: 'shutdown-admin-key',
    });
    const list = await http('GET', `${again.url}/admin/api/tokens`, { headers: { authorization: 'Bearer shutdown-admin-key' } });
    expect(list.status).toBe(200);
    expect((list.json as { counts: { active: number } }).counts.active).toBeGreaterThanOrEqual(1);
    await again.kill('SIGTERM');
  });
});

describe('graceful shutdown with a gateway WebSocket open', () => {
  let gw: GatewayStack;
  let upstreamWs: WebSocketServer;
  let upstreamClosed!: Promise<number>;

  beforeAll(async () => {
    gw = await startGateway({ env: { PUBLIC_URL: 'https://gw.example.test', SHUTDOWN_GRACE_MS: '500' } });
    upstreamWs = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((resolve) => upstreamWs.once('listening', () => resolve()));
    upstreamWs.on('connection', (socket) => {
      upstreamClosed = new Promise((resolve) => socket.once('close', (code) => resolve(code)));
      socket.send('{"type":"hello"}');
    });
  });
  afterAll(async () => {
    for (const client of upstreamWs.clients) client.terminate();
    await new Promise<void>((resolve) => upstreamWs.close(() => resolve()));
    await gw.fake.close();
  });

  // Node's HTTP server never finishes closing while an upgraded socket is open: the bridge must close its sockets first.
  it('closes the browser socket with 1001 "going away" and the app finishes closing', async () => {
    const account = { email: 'owner@example.com', userId: 'user-ownerxxxxxxxxxxxxxxxxxxx' };
    const session = gw.signIn('owner', { accessToken: gw.fake.createAccessToken(account), ...account });
    const port = (upstreamWs.address() as AddressInfo).port;
    gw.fake.useControlRoutes((r) =>
      r.path === '/backend-api/celsius/ws/user' ? { status: 200, body: { websocket_url: `ws://127.0.0.1:${port}/client` } } : undefined,
    );
    const answer = await request(gw.url)
      .get('/backend-api/celsius/ws/user')
      .set({ authorization: `Bearer ${session.standIn}` });
    const url = (answer.body.websocket_url as string).replace('wss://gw.example.test', gw.url.replace(/^http/, 'ws'));
    const socket = new WebSocket(url, { headers: { cookie: session.cookie } });
    await new Promise<void>((resolve, reject) => {
      socket.once('message', () => resolve());
      socket.once('error', reject);
    });
    const browserClose = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));

    await gw.app.get(GracefulShutdown).drain('SIGTERM');
    await gw.app.close();

    expect(await browserClose).toBe(1001);
    expect(await upstreamClosed).toBe(1001);
  });
});
