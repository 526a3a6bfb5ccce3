import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { randomBytes } from 'node:crypto';
import { type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import type { BrowserSession } from '../../auth/browser-session';
import { AppConfig } from '../../config/app-config';
import { SharedState } from '../../common/shared-state/shared-state';
import type { KeyValueStore } from '../../common/shared-state/key-value.store';
import { ProxyAgents } from '../../upstream/proxy-agents';
import { UpstreamClient } from '../../upstream/upstream.client';
import { SeedRegistry } from '../../token-pool/seed-registry';
import { GatewayIdentity } from '../gateway-identity';
import { accountSecretsRewriter } from '../rewriting/account-secrets';
import type { TextRewriter } from '../rewriting/text-rewriter';
import { SeedTurns } from '../seed/seed-turns.service';
import { BridgeRegistry } from './bridge-registry';
import { SeedTopics } from './seed-topics';
import type { PublicOrigin } from '../upstream-hosts';

/** Where the browser connects: `/gateway-ws/<ticket>`. */
const BRIDGE_PATH = /^\/gateway-ws\/([A-Za-z0-9_-]{32})$/;
/** A hand-off is used within seconds; its ticket does not outlive that. */
const TICKET_TTL_MS = 5 * 60_000;
/** WebSocket close code 1001: the server is going away; the web app reconnects (to another instance). */
const GOING_AWAY = 1001;
/** WebSocket close code 1008: the browser may not use the account any more (its session has ended, or the account left service). */
const ACCOUNT_WITHDRAWN = 1008;
/** How long a browser has to answer our close frame before its socket is cut. */
const CLOSE_HANDSHAKE_MS = 2_000;
/** WebSocket close code 1009: a message over the size limit. */
const MESSAGE_TOO_BIG = 1009;
/** What the web app sends is `connect` and subscriptions, a few hundred bytes (ws would take 100 MiB). */
const BROWSER_MAX_PAYLOAD = 1024 * 1024;
/**
 * One upstream frame carries one event of a turn (`encoded_item`), which may be a whole message snapshot of a long
 * answer (upstream-protocol.md §7): kilobytes, seldom more, bounded well above that.
 */
const UPSTREAM_MAX_PAYLOAD = 8 * 1024 * 1024;
/**
 * Past this much relayed towards one side and not yet written out, the other side is no longer read (the sender
 * then waits, as TCP makes it); below the low mark it is read again. A stalled reader cannot fill our memory.
 */
const HIGH_WATER_BYTES = 1024 * 1024;
const LOW_WATER_BYTES = 256 * 1024;

interface Ticket {
  upstreamUrl: string;
  sessionId: string;
}

/**
 * The WebSocket hand-off (gateway-live-ui.md §2): `GET /backend-api/celsius/ws/user` answers an upstream
 * `websocket_url`; the browser gets our own URL instead, with a one-use ticket bound to its session (kept in the
 * shared store so any instance can take the connection), and frames are relayed both ways while the upstream
 * side carries the account's credentials, fingerprint and proxy. The upstream URL never reaches the browser.
 */
@Injectable()
export class WebSocketBridge implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('GatewayWebSocket');
  private readonly tickets: KeyValueStore;
  private readonly server = new WebSocketServer({ noServer: true, maxPayload: BROWSER_MAX_PAYLOAD });
  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => void this.upgrade(request, socket, head);
  /** For each bridge still waiting for its upstream handshake: ends it at shutdown (see `beforeApplicationShutdown`). */
  private readonly handshakes = new Set<() => Promise<void>>();
  private closing = false;

  constructor(
    private readonly config: AppConfig,
    private readonly adapterHost: HttpAdapterHost,
    private readonly identity: GatewayIdentity,
    private readonly upstream: UpstreamClient,
    private readonly agents: ProxyAgents,
    private readonly seeds: SeedRegistry,
    private readonly turns: SeedTurns,
    private readonly bridges: BridgeRegistry,
    state: SharedState,
  ) {
    this.tickets = state.keyValues('gateway-ws-ticket');
  }

  onApplicationBootstrap(): void {
    if (!this.config.enableGateway) return;
    (this.adapterHost.httpAdapter.getHttpServer() as Server).on('upgrade', this.onUpgrade);
  }

  /**
   * Before the HTTP server closes, which it cannot do while an upgraded socket is open (the shutdown would hang): every
   * browser is told we are going away (1001), which the relay passes upstream, and a browser that does not answer
   * the close frame is cut. A bridge still waiting for its upstream handshake is not waited for (up to the 15 s of
   * its timeout): the handshake is cut, and the browser's upgrade completed only to be closed with 1001 as well, so that
   * the web app reconnects (to another instance) as it does for an open bridge.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.closing = true;
    (this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined)?.off('upgrade', this.onUpgrade);
    const bridged = [...this.server.clients].map((browser) => closeBrowser(browser, GOING_AWAY, 'server shutting down'));
    // Before the server closes: it completes no upgrade after that.
    const pending = [...this.handshakes].map((goAway) => goAway());
    this.server.close();
    await Promise.all([...bridged, ...pending]);
  }

  /** Rewrites the hand-off answer's `websocket_url` to our bridge. */
  async handOff(document: unknown, session: BrowserSession, origin: PublicOrigin): Promise<unknown> {
    const record = document as { websocket_url?: unknown } | null;
    if (!record || typeof record.websocket_url !== 'string') return document;
    const ticket = randomBytes(24).toString('base64url');
    await this.tickets.set(
      ticket,
      JSON.stringify({ upstreamUrl: record.websocket_url, sessionId: session.id } satisfies Ticket),
      Date.now(),
      TICKET_TTL_MS,
    );
    const wsOrigin = origin.origin.replace(/^http/, 'ws');
    return { ...record, websocket_url: `${wsOrigin}/gateway-ws/${ticket}` };
  }

  private async upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // Node takes its own error listener off an upgraded socket: a client that resets it while it is refused, or while
    // its ticket and session are read (a Redis round trip), would raise an 'error' nobody handles, which ends the process.
    socket.on('error', () => socket.destroy());
    const match = BRIDGE_PATH.exec((request.url ?? '').split('?')[0]);
    // The server's only upgrade handler: with a listener, Node leaves an unclaimed socket open for good (no header or
    // request timeout applies to it), so a client could hold every connection the server takes.
    if (!match) return refuse(socket, 404);
    try {
      // Read and deleted in one step, so of two instances given one ticket at once, only one opens a bridge with it.
      const stored = await this.tickets.take(match[1], Date.now());
      const ticket = stored ? (JSON.parse(stored) as Ticket) : null;
      const session = ticket ? await this.identity.fromCookieOf(request) : null;
      if (!ticket || !session || session.id !== ticket.sessionId) return refuse(socket, 403);
      const caller = await this.identity.callerOf(session);
      // Shutdown began while the session was read: no upstream handshake is started that it would have to wait for.
      if (this.closing) return refuse(socket, 503);
      const { fingerprint, account } = caller;
      const agents = this.agents.for(fingerprint.proxyUrl);
      const upstreamUrl = new URL(ticket.upstreamUrl);
      const backend = new URL(this.upstream.pickBaseUrl());
      const headers = this.upstream.browserHeaders(backend.origin, {
        accessToken: account.accessToken,
        chatgptAccountId: account.chatgptAccountId,
        fingerprint,
      });
      for (const name of ['accept', 'accept-encoding', 'priority', 'sec-fetch-dest', 'sec-fetch-mode', 'sec-fetch-site'])
        delete headers[name];
      const upstream = new WebSocket(upstreamUrl, {
        headers,
        agent: upstreamUrl.protocol === 'wss:' ? agents.https : agents.http,
        handshakeTimeout: 15_000,
        maxPayload: UPSTREAM_MAX_PAYLOAD,
      });
      const seedId = session.kind === 'seed' ? session.seedId : undefined;
      const rules: RelayRules = {
        secrets: accountSecretsRewriter(session, account),
        seedTopics: seedId
          ? new SeedTopics({
              conversation: (conversationId) => this.seeds.ownsConversation(seedId, conversationId),
              turn: (topic) => this.turns.owns(seedId, topic),
              recordFiles: (fileIds) => this.seeds.recordFilesForSeedId(seedId, fileIds),
            })
          : undefined,
      };
      // A browser that leaves while the upstream answers (a closed tab, a reload) takes the upstream socket with it.
      // Node leaves an upgraded socket without an error listener: until ws takes it, a reset is handled here.
      const browserLeft = () => {
        upstream.terminate();
        socket.destroy();
      };
      const leaving = ['end', 'close', 'error'] as const;
      for (const event of leaving) socket.once(event, browserLeft);
      // The session's end, or its account's, ends the bridge, from the upstream handshake on: nothing more goes up as the account.
      let bridged: WebSocket | undefined;
      const forget = this.bridges.add(session, account, (why) => {
        if (bridged) void closeBrowser(bridged, ACCOUNT_WITHDRAWN, why);
        else socket.destroy();
        upstream.terminate();
      });
      const goAway = () => {
        this.handshakes.delete(goAway);
        for (const event of leaving) socket.off(event, browserLeft);
        upstream.terminate();
        return this.upgradeToClose(request, socket, head, GOING_AWAY, 'server shutting down');
      };
      this.handshakes.add(goAway);
      upstream.once('close', () => {
        this.handshakes.delete(goAway);
        forget();
      });
      upstream.once('open', () => {
        this.handshakes.delete(goAway);
        for (const event of leaving) socket.off(event, browserLeft);
        if (socket.destroyed || !socket.readable) return browserLeft();
        this.server.handleUpgrade(request, socket, head, (browser) => {
          bridged = browser;
          relay(browser, upstream, rules);
        });
      });
      upstream.once('unexpected-response', (_request, answer) => {
        this.logger.warn(`upstream WebSocket refused the hand-off: ${answer.statusCode}`);
        refuse(socket, 502);
      });
      upstream.once('error', (error) => {
        if (socket.destroyed || this.closing) return;
        // A handshake that failed (refused, reset, timed out) is reported with the upstream socket already closing: the
        // browser, not upgraded yet, is answered rather than left open.
        if (!bridged) refuse(socket, 502);
        this.logger.warn(`upstream WebSocket failed: ${error.message}`);
      });
    } catch (error) {
      this.logger.warn(`WebSocket bridge failed: ${(error as Error).message}`);
      refuse(socket, 500);
    }
  }

  /**
   * Completes the browser's upgrade only to close it with `code`, so that its WebSocket is told why rather than cut;
   * settles once the browser's socket is closed (also when the upgrade cannot be completed).
   */
  private upgradeToClose(request: IncomingMessage, socket: Duplex, head: Buffer, code: number, reason: string): Promise<void> {
    if (socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      socket.once('close', () => resolve());
      if (!socket.readable) return socket.destroy();
      this.server.handleUpgrade(request, socket, head, (browser) => void closeBrowser(browser, code, reason));
    });
  }
}

interface RelayRules {
  /** The account's token (and a seed's view of its identifiers) as the browser may see them in upstream frames. */
  secrets: TextRewriter;
  /** For a shared (seed) user: the topics its frames may name. */
  seedTopics?: SeedTopics;
}

/**
 * Relays frames both ways, each direction under backpressure (`Backpressure`). Upstream text frames reach the browser
 * with the account's secrets rewritten; a seed's frames only on its own topics or naming its own conversations
 * (`SeedTopics`), and nothing binary or unreadable (a seed could otherwise subscribe to the account-wide
 * `conversations` topic).
 */
function relay(browser: WebSocket, upstream: WebSocket, rules: RelayRules): void {
  const { secrets, seedTopics } = rules;
  const fromBrowserFlow = new Backpressure(browser);
  const fromUpstreamFlow = new Backpressure(upstream);
  const send = (to: WebSocket, data: RawData | string, binary: boolean, flow: Backpressure, size: number) => {
    if (to.readyState !== WebSocket.OPEN) return flow.written(size);
    to.send(data, { binary }, () => flow.written(size));
  };
  // A subscription may wait for a store read: the browser's frames still go upstream in the order they came.
  let fromBrowser = Promise.resolve();
  let fromUpstream = Promise.resolve();
  browser.on('message', (data, isBinary) => {
    const size = sizeOf(data);
    fromBrowserFlow.read(size);
    if (!seedTopics) return send(upstream, data, isBinary, fromBrowserFlow, size);
    if (isBinary) return fromBrowserFlow.written(size);
    const text = textOf(data);
    fromBrowser = fromBrowser
      .then(async () => {
        if (await seedTopics.admitsFromBrowser(text)) send(upstream, text, false, fromBrowserFlow, size);
        else fromBrowserFlow.written(size);
      })
      .catch(() => browser.terminate());
  });
  upstream.on('message', (data, isBinary) => {
    const size = sizeOf(data);
    fromUpstreamFlow.read(size);
    if (isBinary) {
      if (!seedTopics) return send(browser, data, true, fromUpstreamFlow, size);
      return fromUpstreamFlow.written(size);
    }
    const text = textOf(data);
    if (!seedTopics) return send(browser, secrets.apply(text).text, false, fromUpstreamFlow, size);
    // A frame may wait for a store read (the conversation it names): frames still reach the browser in their order.
    fromUpstream = fromUpstream
      .then(async () => {
        if (await seedTopics.admitsFromUpstream(text)) send(browser, secrets.apply(text).text, false, fromUpstreamFlow, size);
        else fromUpstreamFlow.written(size);
      })
      .catch(() => browser.terminate());
  });
  const close = (other: WebSocket, code: number, reason: Buffer) => {
    if (other.readyState === WebSocket.OPEN || other.readyState === WebSocket.CONNECTING) {
      // 1005/1006 are reserved for "no code": they cannot be sent.
      if (code === 1005 || code === 1006) other.close();
      else other.close(code, reason);
    }
  };
  // A seed's frames that came before the close may still wait for a store read: the close follows them, not overtakes.
  const closeOther = (other: WebSocket, sent: () => Promise<void>) => (code: number, reason: Buffer) => {
    if (!seedTopics) return close(other, code, reason);
    void sent().then(() => close(other, code, reason));
  };
  browser.on(
    'close',
    closeOther(upstream, () => fromBrowser),
  );
  upstream.on(
    'close',
    closeOther(browser, () => fromUpstream),
  );
  // ws has closed the side that sent too big a message with 1009; the other side is told the same.
  const failed = (other: WebSocket) => (error: Error) => {
    if (isTooBig(error)) other.close(MESSAGE_TOO_BIG, 'message too big');
    else other.terminate();
  };
  browser.on('error', failed(upstream));
  upstream.on('error', failed(browser));
}

/**
 * The bytes read from one socket and not yet written out to the other (queued behind a subscription check, in ws's
 * buffer or the socket's): past `HIGH_WATER_BYTES` the source is paused, at `LOW_WATER_BYTES` it is read again.
 */
class Backpressure {
  private pending = 0;

  constructor(private readonly source: WebSocket) {}

  read(bytes: number): void {
    this.pending += bytes;
    if (this.pending > HIGH_WATER_BYTES && !this.source.isPaused) this.source.pause();
  }

  /** Written out, or dropped. */
  written(bytes: number): void {
    this.pending -= bytes;
    if (this.pending <= LOW_WATER_BYTES && this.source.isPaused) this.source.resume();
  }
}

function isTooBig(error: Error): boolean {
  return (error as NodeJS.ErrnoException).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';
}

function sizeOf(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((total, part) => total + part.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}

/** Closes the browser's socket with `code`, and cuts it if it does not answer the close frame in time. */
function closeBrowser(browser: WebSocket, code: number, reason: string): Promise<void> {
  if (browser.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const cut = setTimeout(() => browser.terminate(), CLOSE_HANDSHAKE_MS);
    browser.once('close', () => {
      clearTimeout(cut);
      resolve();
    });
    browser.close(code, reason);
  });
}

function textOf(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)).toString('utf8');
}

function refuse(socket: Duplex, status: number): void {
  if (socket.destroyed || socket.writableEnded) return;
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
}
