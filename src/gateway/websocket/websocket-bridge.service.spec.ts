import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { HttpAdapterHost } from '@nestjs/core';
import type { AppConfig } from '../../config/app-config';
import type { SharedState } from '../../common/shared-state/shared-state';
import type { GatewayIdentity } from '../gateway-identity';
import type { UpstreamClient } from '../../upstream/upstream.client';
import type { ProxyAgents } from '../../upstream/proxy-agents';
import type { SeedRegistry } from '../../token-pool/seed-registry';
import type { SeedTurns } from '../seed/seed-turns.service';
import type { BridgeRegistry } from './bridge-registry';
import { WebSocketBridge } from './websocket-bridge.service';

/** The bridge on `http`, as the gateway's only upgrade handler; nothing but `state`'s tickets is used before a bridge. */
function listenWithBridge(http: Server, state: SharedState): void {
  const adapterHost = { httpAdapter: { getHttpServer: () => http } } as unknown as HttpAdapterHost;
  const bridge = new WebSocketBridge(
    { enableGateway: true } as AppConfig,
    adapterHost,
    {} as GatewayIdentity,
    {} as UpstreamClient,
    {} as ProxyAgents,
    {} as SeedRegistry,
    {} as SeedTurns,
    {} as BridgeRegistry,
    state,
  );
  bridge.onApplicationBootstrap();
}

describe('WebSocketBridge: a client that resets its upgrade', () => {
  let http: Server;
  afterEach(async () => {
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });

  // Node takes its error listener off an upgraded socket: a reset while the ticket is read (a Redis round trip) would
  // be an 'error' nobody handles, which ends the process.
  it('takes a reset of its socket without an unhandled error', async () => {
    let ticketAsked!: () => void;
    const asked = new Promise<void>((resolve) => (ticketAsked = resolve));
    let answerTicket!: (value: string | null) => void;
    const state = {
      keyValues: () => ({
        take: () => {
          ticketAsked();
          return new Promise<string | null>((resolve) => (answerTicket = resolve));
        },
      }),
    } as unknown as SharedState;
    http = createServer();
    listenWithBridge(http, state);
    const serverSide = new Promise<Duplex>((resolve) => http.on('upgrade', (_request: IncomingMessage, socket: Duplex) => resolve(socket)));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));

    try {
      const client = connect((http.address() as AddressInfo).port, '127.0.0.1');
      client.on('error', () => undefined);
      client.write(
        `GET /gateway-ws/${'a'.repeat(32)} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      );
      await asked;
      const socket = await serverSide;
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      client.resetAndDestroy();
      await closed;
      answerTicket(null);
      await new Promise((resolve) => setImmediate(resolve));
      expect(socket.destroyed).toBe(true);
    } finally {
      answerTicket?.(null);
    }
  });
  it('takes a reset of a socket it refuses at once (not a bridge path) without an unhandled error', async () => {
    http = createServer();
    listenWithBridge(http, { keyValues: () => ({}) } as unknown as SharedState);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
    for (let attempt = 0; attempt < 20; attempt++) {
      const closed = new Promise<void>((resolve) =>
        http.once('upgrade', (_request: IncomingMessage, socket: Duplex) => socket.once('close', () => resolve())),
      );
      const client = connect((http.address() as AddressInfo).port, '127.0.0.1');
      client.on('error', () => undefined);
      client.write('GET /elsewhere HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n', () =>
        client.resetAndDestroy(),
      );
      await closed;
    }
  });
});
