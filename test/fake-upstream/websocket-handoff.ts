import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';

/**
 * The fake's side of the WebSocket hand-off (gateway-live-ui.md §2, §4.5), in the wire words of
 * `src/chat/handoff/handoff-frames.ts`:
 * - `GET /backend-api/celsius/ws/user` → `{websocket_url}`: a `ws://…/ws/user?verify=<token>` URL on the fake, the
 *   token bound to the account and valid for a minute;
 * - a thinking/pro/research turn answers the conversation POST with only a `stream_handoff` stub, and publishes
 *   its SSE events as `{"type":"message","topic","offset","payload":{"encoded_item"}}` to a socket that sent
 *   `{"type":"subscribe","topic":"conversation-turn-<turn_exchange_id>"}` (`{"type":"connect"}` is acknowledged);
 * - `POST /backend-api/f/conversation/resume {conversation_id, turn_exchange_id, offset}` streams the turn's
 *   events from `offset` as SSE, or answers 404 `tokenless_resume_unavailable`;
 * - `cutNextSocket(n)` drops the next turn's socket after n items; closes the client makes are counted.
 */

/** Slugs whose turns are handed off (thinking, pro and research models). */
export const HANDOFF_MODEL_SLUGS = new Set(['o3', 'o3-pro', 'o1-pro', 'gpt-5-thinking', 'gpt-5-pro', 'research']);

const TOKEN_LIFETIME_MS = 60_000;
const SOCKET_PATH = '/ws/user';

interface HandoffTurn {
  id: string;
  owner: string;
  conversationId: string;
  /** The turn's SSE events, one per item. */
  items: string[];
  delayMs: number;
  cutAfterItems?: number;
}

export interface HandoffStats {
  urlFetches: number;
  socketsOpened: number;
  /** Topics subscribed to, in order. */
  subscriptions: string[];
  /** Sockets the client closed (any time). */
  closedByClient: number;
  /** Sockets the client closed before the turn's last item was sent. */
  closedByClientMidTurn: number;
  /** Sockets the fake cut on purpose (`cutNextSocket`). */
  cutByFake: number;
  /** `f/conversation/resume` calls that were answered with the rest of a turn. */
  resumes: { turnExchangeId: string; offset: number }[];
  /** Upgrades refused (bad or expired token). */
  refusedUpgrades: number;
}

export interface StubAnswer {
  owner: string;
  conversationId: string;
  /** The turn's SSE events as the HTTP stream would have carried them (`SseFrame.text`). */
  items: string[];
  delayMs: number;
}

const freshStats = (): HandoffStats => ({
  urlFetches: 0,
  socketsOpened: 0,
  subscriptions: [],
  closedByClient: 0,
  closedByClientMidTurn: 0,
  cutByFake: 0,
  resumes: [],
  refusedUpgrades: 0,
});

export class FakeWebSocketHandoff {
  stats: HandoffStats = freshStats();
  private readonly server = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  private readonly tokens = new Map<string, { owner: string; expiresAt: number }>();
  private readonly turns = new Map<string, HandoffTurn>();
  private readonly timers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private nextCut: number | undefined;
  private urlFailures: { status: number; body: unknown; remaining: number } | null = null;
  private resumeRefusals = 0;

  constructor(private readonly baseUrl: () => string) {}

  /** Serves the sockets on the fake's own HTTP port. */
  attach(http: Server): void {
    http.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(http, request, socket, head));
  }

  /** Whether a turn of this model is handed off. */
  handsOff(modelSlug: string): boolean {
    return HANDOFF_MODEL_SLUGS.has(modelSlug);
  }

  /** The next handed-off turn's socket is dropped (terminated) after this many items. */
  cutNextSocket(afterItems: number): void {
    this.nextCut = afterItems;
  }

  /** The next `times` socket URL requests fail with this status. */
  failUrlFetch(status: number, times = 1, body: unknown = { detail: 'Service temporarily unavailable' }): void {
    this.urlFailures = { status, body, remaining: times };
  }

  /** The next `times` resume calls answer 404 `tokenless_resume_unavailable` (seen live on 7 Oct 2026). */
  refuseResume(times = 1): void {
    this.resumeRefusals = times;
  }

  reset(): void {
    this.stats = freshStats();
    this.turns.clear();
    this.nextCut = undefined;
    this.urlFailures = null;
    this.resumeRefusals = 0;
  }

  close(): void {
    for (const pending of [...this.timers]) pending.resolve();
    for (const client of this.server.clients) client.terminate();
    this.server.close();
  }

  /** `GET /backend-api/celsius/ws/user` for an authenticated caller. */
  socketUrl(owner: string): { status: number; body: unknown } {
    this.stats.urlFetches++;
    if (this.urlFailures && this.urlFailures.remaining > 0) {
      this.urlFailures.remaining--;
      return { status: this.urlFailures.status, body: this.urlFailures.body };
    }
    const token = randomBytes(24).toString('base64url');
    this.tokens.set(token, { owner, expiresAt: Date.now() + TOKEN_LIFETIME_MS });
    const url = new URL(this.baseUrl());
    return { status: 200, body: { websocket_url: `ws://${url.host}${SOCKET_PATH}?verify=${token}` } };
  }

  /**
   * Answers a conversation POST with only the `stream_handoff` stub and keeps the turn for its subscriber.
   * The one call both send flows (`/conversation` and `f/conversation`) make for a handed-off turn.
   */
  answerWithStub(res: ServerResponse, answer: StubAnswer): void {
    const turn: HandoffTurn = { id: randomUUID(), ...answer, cutAfterItems: this.nextCut };
    this.nextCut = undefined;
    this.turns.set(turn.id, turn);
    const stub = {
      type: 'stream_handoff',
      conversation_id: turn.conversationId,
      turn_exchange_id: turn.id,
      options: { topic_id: `conversation-turn-${turn.id}`, transport: 'websocket' },
    };
    // The stub keeps the stream's opening (encoding, the echoed input) and carries no delta.
    const opening = answer.items.filter((item) => item.startsWith('event: delta_encoding') || item.includes('"type":"input_message"'));
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.end(`${opening.join('')}data: ${JSON.stringify(stub)}\n\ndata: [DONE]\n\n`);
  }

  /** `POST /backend-api/f/conversation/resume`: the turn's events from `offset`, as SSE. */
  async resume(owner: string, body: unknown, res: ServerResponse): Promise<void> {
    const fields = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const turn = typeof fields.turn_exchange_id === 'string' ? this.turns.get(fields.turn_exchange_id) : undefined;
    const offset = fields.offset;
    if (!turn || turn.owner !== owner || turn.conversationId !== fields.conversation_id || this.resumeRefusals > 0) {
      if (this.resumeRefusals > 0) this.resumeRefusals--;
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ detail: { code: 'tokenless_resume_unavailable', message: 'Resume stream unavailable' } }));
      return;
    }
    if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0 || offset > turn.items.length) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ detail: 'offset must be an integer within the turn' }));
      return;
    }
    this.stats.resumes.push({ turnExchangeId: turn.id, offset });
    let gone = false;
    res.once('close', () => (gone = true));
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.flushHeaders();
    for (const [index, item] of turn.items.slice(offset).entries()) {
      if (index > 0 && turn.delayMs > 0) await this.sleep(turn.delayMs);
      if (gone) return;
      res.write(item);
    }
    res.end();
  }

  private upgrade(http: Server, request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(request.url ?? '/', 'http://fake');
    if (url.pathname !== SOCKET_PATH) {
      // Another listener may serve this path; with none, refuse it.
      if (http.listenerCount('upgrade') === 1) refuse(socket, 404);
      return;
    }
    const grant = this.tokens.get(url.searchParams.get('verify') ?? '');
    if (!grant || grant.expiresAt < Date.now()) {
      this.stats.refusedUpgrades++;
      refuse(socket, 401);
      return;
    }
    this.server.handleUpgrade(request, socket, head, (ws) => this.serve(ws, grant.owner));
  }

  private serve(ws: WebSocket, owner: string): void {
    this.stats.socketsOpened++;
    let cutByUs = false;
    let midTurn = false;
    ws.on('close', () => {
      if (cutByUs) return;
      this.stats.closedByClient++;
      if (midTurn) this.stats.closedByClientMidTurn++;
    });
    ws.on('message', (data) => {
      let message: Record<string, unknown>;
      try {
        message = JSON.parse((Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)).toString('utf8')) as Record<string, unknown>;
      } catch {
        ws.send(JSON.stringify({ type: 'error', message: 'messages must be JSON' }));
        return;
      }
      if (message.type === 'connect') {
        ws.send(JSON.stringify({ type: 'connected' }));
        return;
      }
      if (message.type !== 'subscribe' || typeof message.topic !== 'string') {
        ws.send(JSON.stringify({ type: 'error', message: `unknown message type ${String(message.type)}` }));
        return;
      }
      const topic = message.topic;
      this.stats.subscriptions.push(topic);
      const match = /^conversation-turn-(.+)$/.exec(topic);
      const turn = match ? this.turns.get(match[1]) : undefined;
      if (!turn || turn.owner !== owner) {
        ws.send(JSON.stringify({ type: 'error', topic, message: 'no such topic' }));
        return;
      }
      ws.send(JSON.stringify({ type: 'subscribed', topic }));
      midTurn = true;
      void this.publish(ws, topic, turn, () => {
        cutByUs = true;
      }).then(() => (midTurn = false));
    });
  }

  /** Sends the turn's items to one subscriber, cutting the socket where the turn says. */
  private async publish(ws: WebSocket, topic: string, turn: HandoffTurn, markCut: () => void): Promise<void> {
    const open = () => ws.readyState === WebSocket.OPEN;
    for (const [offset, item] of turn.items.entries()) {
      if (offset > 0 && turn.delayMs > 0) await this.sleep(turn.delayMs);
      if (!open()) return;
      if (turn.cutAfterItems !== undefined && offset >= turn.cutAfterItems) {
        markCut();
        this.stats.cutByFake++;
        ws.terminate();
        return;
      }
      ws.send(JSON.stringify({ type: 'message', topic, offset, payload: { encoded_item: item } }));
    }
  }

  /** Waits `ms`, or less when the fake closes. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const pending = {
        resolve: () => {
          clearTimeout(pending.timer);
          this.timers.delete(pending);
          resolve();
        },
        timer: setTimeout(() => pending.resolve(), ms),
      };
      this.timers.add(pending);
    });
  }
}

function refuse(socket: Duplex, status: 401 | 404): void {
  const reason = status === 401 ? 'Unauthorized' : 'Not Found';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
