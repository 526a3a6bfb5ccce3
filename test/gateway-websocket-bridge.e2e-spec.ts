import request from 'supertest';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { type RawData, WebSocketServer } from 'ws';
import type { SignedInBrowser } from './support/browser-sign-in';
import { SignedInGatewayStack, startSignedInGateway } from './support/gateway-stack';

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
  /** Every connection that asked for an upgrade, and whether it has closed since. */
  connections: Array<{ closed: boolean }>;
  /** Upgrades wait for this before they are answered. */
  holdHandshakes: Promise<void> | null;
  /** Called when an upgrade request has arrived. */
  onUpgradeRequest: () => void;
  close(): Promise<void>;
}

async function stubUpstream(): Promise<StubUpstream> {
  const wss = new WebSocketServer({ noServer: true });
  const http: Server = createServer((_req, res) => res.writeHead(404).end());
  const stub: StubUpstream = {
    url: '',
    frames: [],
    sockets: [],
    connections: [],
    holdHandshakes: null,
    onUpgradeRequest: () => undefined,
    close: async () => {
      for (const socket of stub.sockets) socket.terminate();
      wss.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const connection = { closed: false };
    stub.connections.push(connection);
    socket.once('close', () => (connection.closed = true));
    stub.onUpgradeRequest();
    void (stub.holdHandshakes ?? Promise.resolve()).then(() =>
      wss.handleUpgrade(req, socket, head, (ws) => {
        stub.sockets.push(ws);
        ws.on('message', (data) => {
          stub.frames.push(textOf(data));
          ws.send(JSON.stringify({ type: 'connected' }));
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
