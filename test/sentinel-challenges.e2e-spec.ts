import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import type { Duplex } from 'node:stream';
import request from 'supertest';
import { PowWorkerPool } from '../src/pow/pow-worker-pool';
import { FakeUpstream } from './fake-upstream/fake-upstream';
import { Stack, startStack } from './support/stack';

jest.setTimeout(120_000);

const SOLVER_HOST = 'solver.flowgpt.test';
const ask = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] };

/** A challenge solver answering both kinds (turnstile's `t`, arkose's `token`); `calls` records what it was asked. */
async function startSolver(): Promise<{ server: Server; port: number; calls: string[] }> {
  const calls: string[] = [];
  const server = createServer((req, res) => {
    calls.push(`${req.method} ${req.url}`);
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ t: 'turnstile-answer', token: 'arkose-answer' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, calls };
}

/** An HTTP proxy (CONNECT tunnels, as the account's proxy agent asks) that takes `SOLVER_HOST` to the local solver. */
async function startProxy(solverPort: number): Promise<{ server: Server; url: string; tunnels: string[] }> {
  const tunnels: string[] = [];
  const server = createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    tunnels.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = host === SOLVER_HOST ? connect(solverPort, '127.0.0.1') : connect(Number(port), host);
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, tunnels };
}

describe('sentinel challenges: arkose, turnstile and hard proofs of work (upstream-protocol.md §3.3, §4.4)', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  it('fails an arkose demand it cannot meet before solving any proof of work', async () => {
    const fake = await FakeUpstream.start({ arkoseRequired: true });
    stack = await startStack({ fakeUpstream: fake, env: { UPSTREAM_FLOW: 'classic', RETRY_TIMES: '1' } });
    try {
      const solves = jest.spyOn(stack.app.get(PowWorkerPool), 'solve');
      const response = await request(stack.url)
        .post('/v1/chat/completions')
        .set('authorization', `Bearer ${fake.createAccessToken()}`)
        .send(ask);
      expect(response.status).toBe(403);
      expect(response.body.error).toMatchObject({ type: 'upstream_error', code: 'arkose_required' });
      expect(fake.sentinelRequests().length).toBeGreaterThan(0);
      expect(solves).not.toHaveBeenCalled();
    } finally {
      await stack.close();
      stack = undefined;
      await fake.close();
    }
  });

  it('asks the turnstile solver through the account proxy and the arkose solver directly, then answers', async () => {
    const solver = await startSolver();
    const proxy = await startProxy(solver.port);
    const fake = await FakeUpstream.start({ arkoseRequired: true, turnstileRequired: true });
    try {
      stack = await startStack({
        fakeUpstream: fake,
        env: {
          UPSTREAM_FLOW: 'classic',
          PROXY_URL: proxy.url,
          TURNSTILE_SOLVER_URL: `http://${SOLVER_HOST}/turnstile`,
          ARKOSE_TOKEN_URL: `http://127.0.0.1:${solver.port}/arkose`,
        },
      });
      const completion = await stack.openai(fake.createAccessToken()).chat.completions.create(ask as never);
      expect(completion.choices[0].message.content).toBeTruthy();

      expect(solver.calls.sort()).toEqual(['POST /arkose', 'POST /turnstile']);
      expect(proxy.tunnels).toContain(`${SOLVER_HOST}:80`);
      expect(proxy.tunnels).not.toContain(`127.0.0.1:${solver.port}`);
      const conversation = fake.conversationRequests().at(-1)!;
      expect(conversation.headers['openai-sentinel-turnstile-token']).toBe('turnstile-answer');
      expect(conversation.headers['openai-sentinel-arkose-token']).toBe('arkose-answer');
    } finally {
      await stack?.close();
      stack = undefined;
      await fake.close();
      proxy.server.close();
      solver.server.close();
    }
  });

  it('refuses a difficulty of an odd number of hex digits as unreadable, never as an internal error', async () => {
    const fake = await FakeUpstream.start();
    fake.powDifficulty = '0ffff';
    stack = await startStack({ fakeUpstream: fake, env: { UPSTREAM_FLOW: 'classic', RETRY_TIMES: '0' } });
    try {
      const response = await request(stack.url)
        .post('/v1/chat/completions')
        .set('authorization', `Bearer ${fake.createAccessToken()}`)
        .send(ask);
      expect(response.status).toBe(403);
      expect(response.body.error).toMatchObject({
        type: 'upstream_error',
        code: 'pow_failed',
        message: 'The upstream sent an unreadable proof-of-work challenge.',
      });
    } finally {
      await stack.close();
      stack = undefined;
      await fake.close();
    }
  });
});
