import request from 'supertest';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { type RawData, WebSocketServer } from 'ws';
import { SharedState } from '../src/common/shared-state/shared-state';
import { BridgeRegistry } from '../src/gateway/websocket/bridge-registry';
import { AccountLeaser } from '../src/token-pool/account-leaser';
import { seedIdFor } from '../src/token-pool/seed-registry';
import type { SignedInBrowser } from './support/browser-sign-in';
import { GATEWAY_ADMIN_KEY, SignedInGatewayStack, startSignedInGateway } from './support/gateway-stack';

jest.setTimeout(120_000);

/** The pool account the seeds here run as. */
const POOL = { email: 'pool.bridge.person@example.com', userId: 'user-PoolBridgePersonXXXXXXX', phone: '+15550001111' };

function textOf(data: RawData): string {
  return (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)).toString('utf8');
}

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/** The upstream's WebSocket host (`ws.chatgpt.com`): records frames and sockets; its handshake can be held back. */
interface StubUpstream {
  url: string;
  frames: string[];
  /** Every socket it accepted, in order. */
  sockets: WebSocket[];
  /** Every connection that asked for an upgrade, whether it has been closed since (from our side), and when it is. */
  connections: Array<{ closed: boolean; whenClosed: Promise<void> }>;
  /** Upgrades wait for this before they are answered. */
  holdHandshakes: Promise<void> | null;
  /** Called when an upgrade request has arrived. */
  onUpgradeRequest: () => void;
  /** New sockets read nothing (a slow or stalled upstream). */
  stalled: boolean;
  /** What it answers each frame with. */
  reply: string;
  close(): Promise<void>;
}

async function stubUpstream(): Promise<StubUpstream> {
  const wss = new WebSocketServer({ noServer: true });
  const http: Server = createServer((_req, res) => res.writeHead(404).end());
  const upgrades: Duplex[] = [];
  const stub: StubUpstream = {
    url: '',
    frames: [],
    sockets: [],
    connections: [],
    holdHandshakes: null,
    onUpgradeRequest: () => undefined,
    stalled: false,
    reply: JSON.stringify({ type: 'connected' }),
    close: async () => {
      for (const socket of stub.sockets) socket.terminate();
      for (const socket of upgrades) socket.destroy();
      wss.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const connection = {
      closed: false,
      // An upgrade's socket stays half open: a FIN from our side is an 'end' that nothing answers.
      whenClosed: new Promise<void>((resolve) => {
        socket.once('end', () => resolve());
        socket.once('close', () => resolve());
      }),
    };
    stub.connections.push(connection);
    upgrades.push(socket);
    void connection.whenClosed.then(() => (connection.closed = true));
    stub.onUpgradeRequest();
    void (stub.holdHandshakes ?? Promise.resolve()).then(() =>
      wss.handleUpgrade(req, socket, head, (ws) => {
        stub.sockets.push(ws);
        if (stub.stalled) ws.pause();
        ws.on('message', (data) => {
          stub.frames.push(textOf(data));
          ws.send(stub.reply);
        });
      }),
    );
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
  stub.url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/ws/user?verify=stub`;
  return stub;
}

describe('browser gateway: the WebSocket bridge of a seed', () => {
  let gw: SignedInGatewayStack;
  let stub: StubUpstream;

  beforeAll(async () => {
    gw = await startSignedInGateway();
    await gw.upload([gw.fake.createRefreshToken({ account: POOL })]);
    stub = await stubUpstream();
    gw.fake.webApp.place('/backend-api/celsius/ws/user', {
      contentType: 'application/json',
      body: JSON.stringify({ websocket_url: stub.url }),
    });
  });
  afterAll(async () => {
    await stub?.close();
    await gw?.close();
  });

  /** The bridge URL a hand-off gives this browser. */
  async function bridgeUrl(browser: SignedInBrowser): Promise<string> {
    const handOff = await request(gw.url).get('/backend-api/celsius/ws/user').set(browser.bearer).expect(200);
    return String(handOff.body.websocket_url);
  }

  /** A browser's socket on the bridge, open. */
  async function openBridge(browser: SignedInBrowser): Promise<WebSocket> {
    const socket = new WebSocket(await bridgeUrl(browser), { headers: { cookie: browser.cookie }, maxPayload: 64 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return socket;
  }

  /** The code the socket is closed with, or null when it is still open after a while. */
  function closeCodeOf(socket: WebSocket): Promise<number | null> {
    return new Promise((resolve) => {
      const giveUp = setTimeout(() => resolve(null), 10_000);
      socket.once('close', (code) => {
        clearTimeout(giveUp);
        resolve(code);
      });
    });
  }

  /** A bridge that has relayed one frame, both sides open. */
  async function relayingBridge(browser: SignedInBrowser): Promise<WebSocket> {
    const socket = await openBridge(browser);
    const before = stub.frames.length;
    socket.send(JSON.stringify({ type: 'connect' }));
    expect(await waitFor(() => stub.frames.length > before)).toBe(true);
    return socket;
  }

  /** The code the bridge is closed with, and what it relayed from the browser afterwards (were it left open). */
  async function howItEnds(socket: WebSocket): Promise<{ code: number | null; relayedAfterwards: number }> {
    const code = await closeCodeOf(socket);
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'connect', after: 'the end' }));
    // Given the time to reach the upstream, were it relayed.
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.terminate();
    return { code, relayedAfterwards: stub.frames.filter((frame) => frame.includes('the end')).length };
  }

  it('is closed when the seed signs out, and relays nothing more as the account', async () => {
    const seed = await gw.signIn('bridge-seed-signing-out');
    const ended = howItEnds(await relayingBridge(seed));
    const confirm = await request(gw.url).get('/auth/logout').set('Cookie', seed.cookie).expect(200);
    const csrf = /name="_csrf" value="([^"]*)"/.exec(confirm.text)?.[1];
    await request(gw.url)
      .post('/auth/logout')
      .set('Cookie', seed.cookie)
      .set('Origin', gw.url)
      .type('form')
      .send({ _csrf: csrf })
      .expect(303);
    expect(await ended).toEqual({ code: 1008, relayedAfterwards: 0 });
  });

  it('is closed at the next check when another instance signed the session out (its store entry gone)', async () => {
    const seed = await gw.signIn('bridge-seed-signed-out-elsewhere');
    const ended = howItEnds(await relayingBridge(seed));
    const sessionId = decodeURIComponent(seed.cookie.slice(seed.cookie.indexOf('=') + 1));
    // What another instance's sign-out does to the shared store; this instance hears nothing of it.
    await gw.app.get(SharedState).keyValues('browser-session').delete(`id:${sessionId}`);
    await gw.app.get(BridgeRegistry).recheck();
    expect(await ended).toEqual({ code: 1008, relayedAfterwards: 0 });
  });

  it('is closed at the next check when its seed is removed', async () => {
    const seedText = 'bridge-seed-removed-by-admin';
    const seed = await gw.signIn(seedText);
    const ended = howItEnds(await relayingBridge(seed));
    await request(gw.url)
      .delete(`/admin/api/seeds/${seedIdFor(seedText)}`)
      .set('Authorization', `Bearer ${GATEWAY_ADMIN_KEY}`)
      .expect(200);
    await gw.app.get(BridgeRegistry).recheck();
    expect(await ended).toEqual({ code: 1008, relayedAfterwards: 0 });
  });

  it('is closed at the next check when the pool account it runs as is disabled', async () => {
    const seed = await gw.signIn('bridge-seed-account-disabled');
    const ended = howItEnds(await relayingBridge(seed));
    const admin = { Authorization: `Bearer ${GATEWAY_ADMIN_KEY}` };
    const [account] = (await request(gw.url).get('/admin/api/tokens').set(admin).expect(200)).body.data as Array<{ id: string }>;
    // What the upstream's 403 on the account does (a ban), heard from any request as it.
    await gw.app.get(AccountLeaser).report(account.id, { kind: 'forbidden', reason: 'banned' });
    try {
      await gw.app.get(BridgeRegistry).recheck();
      expect(await ended).toEqual({ code: 1008, relayedAfterwards: 0 });
    } finally {
      await request(gw.url).post(`/admin/api/tokens/${account.id}/restore`).set(admin).expect(200);
    }
  });

  it('stays open at a check while its session signs in', async () => {
    const seed = await gw.signIn('bridge-seed-staying');
    const socket = await relayingBridge(seed);
    await gw.app.get(BridgeRegistry).recheck();
    expect(socket.readyState).toBe(WebSocket.OPEN);
    const before = stub.frames.length;
    socket.send(JSON.stringify({ type: 'connect' }));
    expect(await waitFor(() => stub.frames.length > before)).toBe(true);
    socket.terminate();
  });

  it('checks its open bridges without leasing an account or asking the upstream', async () => {
    const [first, second] = [await gw.signIn('bridge-seed-checked-first'), await gw.signIn('bridge-seed-checked-second')];
    const sockets = [await relayingBridge(first), await relayingBridge(first), await relayingBridge(second)];
    const leaser = gw.app.get(AccountLeaser);
    const leases = [jest.spyOn(leaser, 'lease'), jest.spyOn(leaser, 'leaseAccount'), jest.spyOn(leaser, 'leaseForFollowUp')];
    const upstreamCalls = gw.fake.requests.length;
    try {
      await gw.app.get(BridgeRegistry).recheck();
      expect(leases.map((lease) => lease.mock.calls.length)).toEqual([0, 0, 0]);
      expect(gw.fake.requests.length).toBe(upstreamCalls);
      expect(sockets.map((socket) => socket.readyState)).toEqual([WebSocket.OPEN, WebSocket.OPEN, WebSocket.OPEN]);
    } finally {
      for (const lease of leases) lease.mockRestore();
      for (const socket of sockets) socket.terminate();
    }
  });

  it('does not read a browser faster than the upstream takes its frames: a stalled upstream fills no memory of ours', async () => {
    const seed = await gw.signIn('bridge-seed-flooding');
    const stubHost = stub.url.split('?')[0];
    // How much the bridge's upstream socket ever held unsent.
    let upstreamBuffered = 0;
    const realSend = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'send')?.value as (...args: unknown[]) => void;
    const spy = jest.spyOn(WebSocket.prototype, 'send').mockImplementation(function (this: WebSocket, ...args: unknown[]) {
      const result = realSend.apply(this, args);
      if (this.url?.startsWith(stubHost)) upstreamBuffered = Math.max(upstreamBuffered, this.bufferedAmount);
      return result;
    });
    stub.stalled = true;
    const browser = await openBridge(seed);
    try {
      // 48 MiB of frames a seed may send (JSON, no topic), which the upstream does not read.
      const frame = JSON.stringify({ type: 'connect', pad: 'x'.repeat(256 * 1024) });
      for (let i = 0; i < 192; i++) browser.send(frame);
      // Until the bridge has read all of it, or has stopped reading for a while.
      let last = -1;
      let steadySince = Date.now();
      await waitFor(() => {
        if (browser.bufferedAmount !== last) [last, steadySince] = [browser.bufferedAmount, Date.now()];
        return browser.bufferedAmount === 0 || upstreamBuffered > 4 * 1024 * 1024 || Date.now() - steadySince > 1_000;
      }, 60_000);
      // What the browser sent stays with the browser (and the kernels in between), not in the bridge.
      expect(upstreamBuffered).toBeLessThan(4 * 1024 * 1024);
      expect(browser.bufferedAmount).toBeGreaterThan(0);
    } finally {
      spy.mockRestore();
      stub.stalled = false;
      for (const socket of stub.sockets) socket.resume();
      browser.terminate();
    }
  });

  it('closes a browser that sends a frame over 1 MiB with 1009, and passes none of it upstream', async () => {
    const seed = await gw.signIn('bridge-seed-oversized');
    const browser = await openBridge(seed);
    const closed = closeCodeOf(browser);
    const before = stub.frames.length;
    browser.send(JSON.stringify({ type: 'connect', pad: 'x'.repeat(1024 * 1024) }));
    expect(await closed).toBe(1009);
    expect(stub.frames.length).toBe(before);
    browser.terminate();
  });

  it('closes the browser with 1009 when the upstream sends a frame over the limit', async () => {
    const seed = await gw.signIn('bridge-seed-flooded');
    stub.reply = JSON.stringify({ type: 'connected', pad: 'x'.repeat(9 * 1024 * 1024) });
    try {
      const browser = await openBridge(seed);
      const closed = closeCodeOf(browser);
      browser.send(JSON.stringify({ type: 'connect' }));
      expect(await closed).toBe(1009);
      browser.terminate();
    } finally {
      stub.reply = JSON.stringify({ type: 'connected' });
    }
  });

  // ws reports a handshake that failed (refused, reset, timed out) with its socket already closing, not connecting.
  it('answers the browser 502 when the upstream WebSocket cannot be reached, rather than leaving its socket open', async () => {
    const seed = await gw.signIn('bridge-seed-upstream-down');
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', () => resolve()));
    const { port } = gone.address() as AddressInfo;
    await new Promise<void>((resolve) => gone.close(() => resolve()));
    gw.fake.webApp.place('/backend-api/celsius/ws/user', {
      contentType: 'application/json',
      body: JSON.stringify({ websocket_url: `ws://127.0.0.1:${port}/ws/user` }),
    });
    try {
      const browser = new WebSocket(await bridgeUrl(seed), { headers: { cookie: seed.cookie } });
      const status = await new Promise<number | undefined>((resolve, reject) => {
        browser.once('unexpected-response', (_request, answer) => resolve(answer.statusCode));
        browser.once('open', () => reject(new Error('the bridge opened')));
      });
      // Its request is still open once the answer is read: ending it reports an error of its own.
      browser.on('error', () => undefined);
      browser.terminate();
      expect(status).toBe(502);
    } finally {
      gw.fake.webApp.place('/backend-api/celsius/ws/user', {
        contentType: 'application/json',
        body: JSON.stringify({ websocket_url: stub.url }),
      });
    }
  });

  it('closes the upstream socket when the browser leaves during the upstream handshake', async () => {
    const seed = await gw.signIn('bridge-seed-leaving-early');
    const bridge = new URL(await bridgeUrl(seed));
    let release!: () => void;
    stub.holdHandshakes = new Promise((resolve) => (release = resolve));
    const upgradeAsked = new Promise<void>((resolve) => (stub.onUpgradeRequest = resolve));
    const before = stub.connections.length;
    try {
      // A browser that asks for the upgrade and goes away before the upstream answers (a closed tab, a reload).
      const socket = connect(Number(bridge.port), bridge.hostname);
      socket.on('error', () => undefined);
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(
        [
          `GET ${bridge.pathname} HTTP/1.1`,
          `Host: ${bridge.host}`,
          'Upgrade: websocket',
          'Connection: Upgrade',
          'Sec-WebSocket-Version: 13',
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
          `Cookie: ${seed.cookie}`,
          '',
          '',
        ].join('\r\n'),
      );
      await upgradeAsked;
      socket.destroy();
    } finally {
      release();
      stub.holdHandshakes = null;
      stub.onUpgradeRequest = () => undefined;
    }
    // The upstream answers the upgrade now: the bridge closes what nobody will use.
    expect(stub.connections.length).toBe(before + 1);
    expect(await waitFor(() => stub.connections[before].closed)).toBe(true);
  });
});

describe('browser gateway: the WebSocket bridge at shutdown', () => {
  let gw: SignedInGatewayStack | undefined;
  let stub: StubUpstream;

  beforeAll(async () => {
    gw = await startSignedInGateway();
    await gw.upload([gw.fake.createRefreshToken({ account: POOL })]);
    stub = await stubUpstream();
    gw.fake.webApp.place('/backend-api/celsius/ws/user', {
      contentType: 'application/json',
      body: JSON.stringify({ websocket_url: stub.url }),
    });
  });
  afterAll(async () => {
    await stub?.close();
    await gw?.close();
  });

  // Its handshake timer (15 s) would otherwise hold the app's close, and the browser would get a 502 at its end.
  it('cuts a bridge still waiting for its upstream handshake: the upstream connection is closed and the browser told 1001', async () => {
    const stack = gw!;
    const seed = await stack.signIn('bridge-seed-at-shutdown');
    const handOff = await request(stack.url).get('/backend-api/celsius/ws/user').set(seed.bearer).expect(200);
    // The upstream never answers this upgrade.
    stub.holdHandshakes = new Promise<void>(() => undefined);
    const upgradeAsked = new Promise<void>((resolve) => (stub.onUpgradeRequest = resolve));
    const browser = new WebSocket(String(handOff.body.websocket_url), { headers: { cookie: seed.cookie } });
    const ended = new Promise<{ code: number; reason: string }>((resolve, reject) => {
      browser.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      browser.once('error', reject);
    });
    await upgradeAsked;
    const upstreamConnection = stub.connections[0];

    gw = undefined;
    await stack.close();

    await upstreamConnection.whenClosed;
    expect(await ended).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(stub.sockets).toHaveLength(0);
  });
});
