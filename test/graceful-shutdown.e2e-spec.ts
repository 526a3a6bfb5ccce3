import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import WebSocket, { WebSocketServer } from 'ws';
import { GracefulShutdown } from '../src/common/lifecycle/graceful-shutdown.service';
import { FakeUpstream } from './fake-upstream/fake-upstream';
import { signInThroughForm } from './support/browser-sign-in';
import { GatewayStack, startGateway } from './support/gateway-stack';
import { http, ServerProcess, startServer, stopAllServers } from './support/process';
import { sseData } from './support/stack';

jest.setTimeout(180_000);

interface OpenStream {
  /** Resolves with the whole body once the server ends the response. */
  body: Promise<string>;
  /** Resolves once the first data event has arrived (the stream is open and registered). */
  started: Promise<void>;
  /** What has arrived so far. */
  received(): string;
}

/**
 * A POST whose answer is an event stream, read with a raw HTTP client, so we see exactly the bytes the server sent;
 * the body rejects when the response is cut instead of ended.
 */
function openEventStream(url: string, headers: Record<string, string>, json: unknown): OpenStream {
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  let text = '';
  const body = new Promise<string>((resolve, reject) => {
    const payload = JSON.stringify(json);
    const req = httpRequest(url, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    });
    req.on('response', (res) => {
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
  return { body, started, received: () => text };
}

/** A streaming chat completion. */
function openStream(server: ServerProcess, token: string): OpenStream {
  const json = { model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'take your time' }] };
  return openEventStream(`${server.url}/v1/chat/completions`, { authorization: `Bearer ${token}` }, json);
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

/** Resolves once the server's output contains `text`, or with 'exited' if the process exits first. */
function outputOrExit(server: ServerProcess, text: string): Promise<'said' | 'exited'> {
  return new Promise((resolve) => {
    const check = () => {
      if (!server.output().includes(text)) return;
      server.child.stdout?.off('data', check);
      resolve('said');
    };
    server.child.stdout?.on('data', check);
    void server.exited().then(() => resolve('exited'));
    check();
  });
}

/**
 * SIGTERM while a background refresh (SCHEDULED_REFRESH's start-up or cron run) exchanges a rotating RefreshToken:
 * the auth server spends the old value as it answers, so a process that left before storing the new one would find
 * the account dead on its next start.
 */
describe('graceful shutdown during a scheduled refresh of a rotating RefreshToken (real server process)', () => {
  let fake: FakeUpstream;
  let dataDir: string;

  beforeAll(async () => {
    fake = await FakeUpstream.start();
    dataDir = mkdtempSync(join(tmpdir(), 'flowgpt-shutdown-refresh-'));
  });
  afterAll(async () => {
    await stopAllServers();
    await fake.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const env = (scheduled: boolean) => ({
    CHATGPT_BASE_URL: fake.url,
    AUTH_BASE_URL: fake.url,
    DATA_DIR: dataDir,
    AUTHORIZATION: 'pool-key',
    SCHEDULED_REFRESH: String(scheduled),
    POW_WORKERS: '1',
    LOG_LEVEL: 'log',
    SHUTDOWN_GRACE_MS: '60000',
  });

  it('waits for the exchange it has in flight, stores its answer, then exits 0', async () => {
    // The reference's token.txt, imported on first start; its account has no AccessToken yet, so the start-up refresh exchanges it.
    writeFileSync(join(dataDir, 'token.txt'), `${fake.createRefreshToken({ rotate: true })}\n`);
    const hold = fake.holdNextOAuth();
    const first = await startServer(env(true));
    await hold.arrived;
    // A deploy: SIGTERM while the exchange is in flight; the auth server answers only once the server says it waits.
    first.child.kill('SIGTERM');
    const waiting = await outputOrExit(first, 'credential renewal(s) or refresh job(s) running');
    // Answered (and so spent) whether or not anybody still listens, as a real auth server does.
    hold.release();
    const exit = await first.exited();
    expect(waiting).toBe('said');
    expect(first.output()).toMatch(/SIGTERM: .*[1-9] credential renewal\(s\) or refresh job\(s\) running/);
    expect(exit).toEqual({ code: 0, signal: null });
  });

  it('after the restart, the account works: the store holds the RefreshToken the auth server rotated to', async () => {
    const second = await startServer(env(false));
    const answer = await http('POST', `${second.url}/v1/chat/completions`, {
      headers: { authorization: 'Bearer pool-key' },
      json: { model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }] },
    });
    expect({ status: answer.status, body: answer.status === 200 ? 'ok' : answer.text }).toEqual({ status: 200, body: 'ok' });
    await second.kill('SIGTERM');
  });
});

/**
 * The web app's conversation streams, proxied from the upstream: the turn lives upstream, so the web app gets its
 * answer back from there (the conversation, or its resume) once the stream has ended. A shutdown does not wait for
 * them, but neither does it cut them while it waits for the API's answers, which have nowhere else to come from.
 */
describe('graceful shutdown with gateway conversation streams open (real server process)', () => {
  let fake: FakeUpstream;
  let dataDir: string;

  beforeAll(async () => {
    fake = await FakeUpstream.start({ requireSentinel: false });
    dataDir = mkdtempSync(join(tmpdir(), 'flowgpt-shutdown-gateway-'));
  });
  afterAll(async () => {
    await stopAllServers();
    await fake.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const start = () =>
    startServer({
      CHATGPT_BASE_URL: fake.url,
      AUTH_BASE_URL: fake.url,
      DATA_DIR: dataDir,
      ENABLE_GATEWAY: 'true',
      LOG_LEVEL: 'log',
      POW_WORKERS: '1',
      // Longer than the pause of the upstream answer: a stream that ends before that pause is over was ended by the server.
      SHUTDOWN_GRACE_MS: '120000',
    });

  /** The web app's send: its upstream answer pauses after its first words (for less than the grace). */
  async function openGatewayStream(server: ServerProcess): Promise<OpenStream> {
    const browser = await signInThroughForm(server.url, fake.createAccessToken());
    fake.enqueue({ kind: 'stall', text: 'the rest of this answer comes much later', afterChunks: 1, stallMs: 60_000 });
    const stream = openEventStream(`${server.url}/backend-api/conversation`, browser.bearer, {
      action: 'next',
      messages: [
        { id: 'aaaaaaaa-0000-4000-8000-000000000001', author: { role: 'user' }, content: { content_type: 'text', parts: ['hi'] } },
      ],
      parent_message_id: 'aaaaaaaa-0000-4000-8000-000000000000',
      model: 'auto',
    });
    await stream.started;
    return stream;
  }

  it('lets the API stream finish, then ends the gateway stream properly (not cut), lets its upstream answer go, and exits 0', async () => {
    const server = await start();
    const gateway = await openGatewayStream(server);
    fake.enqueue({ kind: 'text', text: 'one two three four five six seven eight nine ten', chunks: 10, delayMs: 400 });
    const api = openStream(server, fake.createAccessToken());
    await api.started;
    server.child.kill('SIGTERM');
    const order: string[] = [];
    const [gatewayBody, apiBody, exit] = await Promise.all([
      gateway.body.finally(() => order.push('gateway stream ended')),
      api.body.finally(() => order.push('API stream ended')),
      server.exited().finally(() => order.push('exited')),
    ]);
    expect(order).toEqual(['API stream ended', 'gateway stream ended', 'exited']);
    expect(sseData(apiBody).at(-1)).toBe('[DONE]');
    // Ended (not cut: its body resolved) while its upstream answer was still paused.
    expect(gatewayBody).not.toContain('later');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(server.output()).toMatch(/SIGTERM: .*1 gateway stream\(s\)/);
  });

  it('with only a gateway stream open, ends it properly and exits 0 without waiting for the grace period', async () => {
    const server = await start();
    const gateway = await openGatewayStream(server);
    const abortedBefore = fake.abortedStreams;
    server.child.kill('SIGTERM');
    const order: string[] = [];
    const [body, exit] = await Promise.all([
      gateway.body.finally(() => order.push('gateway stream ended')),
      server.exited().finally(() => order.push('exited')),
    ]);
    expect(order).toEqual(['gateway stream ended', 'exited']);
    // The server let the upstream answer go rather than wait for it.
    expect(fake.abortedStreams - abortedBefore).toBe(1);
    expect(body).not.toContain('later');
    expect(exit).toEqual({ code: 0, signal: null });
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

/**
 * A process killed mid-stream runs no shutdown: its stored response stays `in_progress` on disk. The next process on
 * the same DATA_DIR knows nobody runs it any more and answers it as failed.
 */
describe('a stored Responses stream whose server is killed (real server process)', () => {
  let fake: FakeUpstream;
  let dataDir: string;

  beforeAll(async () => {
    fake = await FakeUpstream.start();
    dataDir = mkdtempSync(join(tmpdir(), 'flowgpt-killed-responses-'));
  });
  afterAll(async () => {
    await stopAllServers();
    await fake.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const start = () =>
    startServer({ CHATGPT_BASE_URL: fake.url, AUTH_BASE_URL: fake.url, DATA_DIR: dataDir, LOG_LEVEL: 'warn', POW_WORKERS: '1' });

  it('is failed with server_error once the next process reads it, not in progress for ever', async () => {
    const token = fake.createAccessToken();
    const headers = { authorization: `Bearer ${token}` };
    const first = await start();
    fake.enqueue({ kind: 'stall', text: 'this answer never ends', afterChunks: 1, stallMs: 120_000 });
    const stream = openEventStream(`${first.url}/v1/responses`, headers, { model: 'gpt-4o', input: 'take your time', stream: true });
    stream.body.catch(() => undefined);
    await stream.started;
    const id = /"id":"(resp_[0-9a-f]+)"/.exec(stream.received())![1];
    const running = await http('GET', `${first.url}/v1/responses/${id}`, { headers });
    expect(JSON.parse(running.text)).toMatchObject({ id, status: 'in_progress' });

    await first.kill('SIGKILL');
    const second = await start();
    const after = await http('GET', `${second.url}/v1/responses/${id}`, { headers });
    expect(after.status).toBe(200);
    expect(JSON.parse(after.text)).toMatchObject({
      id,
      status: 'failed',
      error: { code: 'server_error', message: expect.stringContaining('stopped before it finished') },
    });
    const continued = await http('POST', `${second.url}/v1/responses`, {
      headers,
      json: { model: 'gpt-4o', input: 'next', previous_response_id: id },
    });
    expect(continued.status).toBe(400);
    expect(JSON.parse(continued.text).error).toMatchObject({ param: 'previous_response_id', code: 'invalid_value' });
    await second.kill('SIGTERM');
  });
});
