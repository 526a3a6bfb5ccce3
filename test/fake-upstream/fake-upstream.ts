import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { CloudflareChallenge } from './cloudflare-challenge';
import {
  BUILD_ID,
  accountsCheckDocument,
  cloudflareChallengePage,
  gizmoDocument,
  homePage,
  meDocument,
  modelsDocument,
} from './fake-documents';
import {
  IOS_CLIENT_ID,
  OAUTH_SCOPE,
  TokenRegistry,
  randomText,
  type AccessTokenOptions,
  type AccessTokenRecord,
  type Persona,
  type RefreshTokenOptions,
} from './fake-tokens';
import { solidPng } from './png';
import { FConversationGate, FlowRefusal, type Generation } from './f-conversation';
import { checkPowAnswer, decodeProofConfig } from './pow-check';
import { buildAnswer, resolveScenario, sentAtStamp, upstreamMessage, type AnswerPlan, type Scenario } from './scenarios';
import { applyDelta, encodeClassic, encodeDelta, type SseFrame, type UpstreamMessage } from './sse-encoding';
import { FakeWebSocketHandoff } from './websocket-handoff';
import { FakeWebApp } from './web-app';
import { FakeSessionAuth, type SessionTokenOptions } from './session-auth';

export type { Scenario } from './scenarios';
export type { AccessTokenOptions, RefreshTokenOptions } from './fake-tokens';
export type { Generation } from './f-conversation';
export type { SessionTokenOptions } from './session-auth';

export interface FakeUpstreamOptions {
  port?: number;
  /** Difficulty given by chat-requirements; `0fffff` (~16 attempts) keeps tests cheap. */
  powDifficulty?: string;
  /** Honour `supported_encodings: ["v1"]` with the delta stream. */
  deltaEncoding?: boolean;
  /** Delay between stream events. */
  chunkDelayMs?: number;
  /** When false, /conversation does not ask for sentinel headers (CONVERSATION_ONLY deployments). */
  requireSentinel?: boolean;
  /** Artificial latency of /oauth/token, to show that concurrent refreshes share one exchange. */
  oauthDelayMs?: number;
  /** chat-requirements answers turnstile `{required: true, dx}`; the conversation still goes through without it. */
  turnstileRequired?: boolean;
  /** chat-requirements answers arkose `{required: true, dx}`; the conversation then needs `openai-sentinel-arkose-token`. */
  arkoseRequired?: boolean;
  /** `GET /files/<id>` reports retrieval_index_status `pending` this many times per `my_files` upload before `success`. */
  fileIndexPolls?: number;
  /** Keep `requests` (default true); a benchmark may turn it off to save memory. */
  recordRequests?: boolean;
  /** The send flows an account gets unless `setGeneration` says otherwise (default `both`; f-conversation.ts). */
  generation?: Generation;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Parsed JSON when the body is JSON, else the raw text ('' when empty). */
  body: unknown;
  /** Epoch milliseconds. */
  at: number;
  /** The `Set-Cookie` lines the fake answered with, when it set cookies. */
  setCookie?: string[];
}

export interface TokenStatusOptions {
  /** For 429: the `clears_in` seconds; the failure also stops by itself after that long. */
  clearsInSec?: number;
  /** How many calls fail; undefined: until cleared. */
  times?: number;
}

/** Answers a request itself, or returns undefined to let the fake handle it. */
export type ControlRoutes = (request: RecordedRequest) => { status: number; body: unknown } | undefined;

/** What chat-requirements answers when a sentinel scenario is queued. */
export type SentinelScenario = Extract<Scenario, { kind: 'status' } | { kind: 'cf_challenge' }>;

interface TokenStatus {
  status: 401 | 403 | 429;
  clearsAt?: number;
  remaining?: number;
}

interface SentinelGrant {
  seed: string;
  difficulty: string;
  owner: string;
  used: boolean;
}

interface StoredFile {
  id: string;
  name: string;
  size: number;
  useCase: string;
  owner: string;
  sig: string;
  mime: string;
  bytes: Buffer | null;
  created: string;
  pendingPolls: number;
}

interface StoredConversation {
  id: string;
  owner: string;
  title: string;
  createTime: number;
  updateTime: number;
  historyDisabled: boolean;
  isArchived: boolean;
  isVisible: boolean;
  gizmoId: string | null;
  model: string;
  mapping: Map<string, { id: string; message: UpstreamMessage | null; parent: string | null; children: string[] }>;
  currentNode: string;
  sandboxFiles: Map<string, Buffer>;
}

interface Caller {
  owner: string;
  persona: Persona | 'chatgpt-noauth';
  token: AccessTokenRecord | null;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof body === 'string' ? body : JSON.stringify(body));
  }
}

const DEFAULT_ANSWER = 'Hello! How can I help you today?';
const UNUSUAL_ACTIVITY = 'Unusual activity has been detected from your device. Try again later.';
const INVALID_JWT = {
  detail: {
    message: 'Could not parse your authentication token. Please try signing in again.',
    type: 'invalid_request_error',
    param: null,
    code: 'invalid_jwt',
  },
};
const TOKEN_EXPIRED = {
  detail: {
    message: 'Your authentication token has expired. Please try signing in again.',
    type: 'invalid_request_error',
    param: null,
    code: 'token_expired',
  },
};
const FORBIDDEN_BLOB_HEADERS = ['authorization', 'oai-device-id', 'oai-language'];
const ROOT_USER_ID = 'client-created-root';
const UPLOAD_USE_CASES = ['multimodal', 'my_files', 'ace_upload'];

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isoTime = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');

function rateLimitBody(clearsIn: number): Record<string, unknown> {
  return {
    detail: {
      message: "You've reached our limit of messages per hour. Please try again later.",
      clears_in: clearsIn,
      code: 'model_cap_exceeded',
    },
  };
}

/**
 * A faithful simulator of chatgpt.com's backend and of the auth server, on one node:http port.
 * It insists on what the real service insists on (a valid bearer, a single-use chat-requirements
 * token, a solved proof of work, a signed blob URL without credentials) so a client mistake fails a test.
 */
export class FakeUpstream {
  readonly url: string;
  readonly requests: RecordedRequest[] = [];
  abortedStreams = 0;
  openStreams = 0;
  oauthExchanges = 0;
  sentinelCalls = 0;
  /** TCP connections accepted so far: shows whether clients reuse keep-alive connections. */
  connections = 0;
  /** The difficulty chat-requirements hands out from now on. */
  powDifficulty: string;
  /** The new send flow's rules and state (f-conversation.ts). */
  readonly flows: FConversationGate;
  /** The WebSocket hand-off of thinking turns: its controls (`cutNextSocket`, …) and what it saw (`stats`). */
  readonly handoff: FakeWebSocketHandoff;
  /** Cloudflare in front of every route: `cloudflare.challenge()` until a browser passes it. */
  readonly cloudflare = new CloudflareChallenge();

  private readonly tokens = new TokenRegistry();
  /** next-auth's SessionTokens and `GET /api/auth/session` (session-auth.ts): `revoke`, `expireValue`, `exchanges`, …. */
  readonly sessionAuth = new FakeSessionAuth(this.tokens);
  /** The stub of the web app's page and script (web-app.ts). */
  readonly webApp = new FakeWebApp((authorization) => {
    const check = this.tokens.checkBearer(authorization);
    return check.ok ? check.record : null;
  }, this.sessionAuth);
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private readonly grants = new Map<string, SentinelGrant>();
  private readonly tokenStatuses = new Map<string, TokenStatus>();
  private readonly files = new Map<string, StoredFile>();
  private readonly conversations = new Map<string, StoredConversation>();
  private readonly gizmos = new Map<string, string>();
  private scenarios: Scenario[] = [];
  private sentinelScenarios: SentinelScenario[] = [];
  private oauthFailures: { status: number; body: unknown; remaining: number } | null = null;
  private oauthHold: { arrived: () => void; released: Promise<void> } | null = null;
  private defaultAnswer = DEFAULT_ANSWER;
  private generatedImage: Buffer | null = null;
  private fileStatusFailures: { status: number; times: number } | null = null;
  private controlRoutes: ControlRoutes | undefined;

  private constructor(
    private readonly server: Server,
    private readonly options: Required<Omit<FakeUpstreamOptions, 'port'>>,
  ) {
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    this.powDifficulty = options.powDifficulty;
    this.flows = new FConversationGate(options.generation);
    this.handoff = new FakeWebSocketHandoff(() => this.url);
    this.handoff.attach(server);
    this.resetGizmos();
    server.on('request', (req, res) => void this.handle(req, res));
  }

  static async start(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    const fake = new FakeUpstream(server, {
      powDifficulty: options.powDifficulty ?? '0fffff',
      deltaEncoding: options.deltaEncoding ?? true,
      chunkDelayMs: options.chunkDelayMs ?? 0,
      requireSentinel: options.requireSentinel ?? true,
      oauthDelayMs: options.oauthDelayMs ?? 0,
      turnstileRequired: options.turnstileRequired ?? false,
      arkoseRequired: options.arkoseRequired ?? false,
      fileIndexPolls: options.fileIndexPolls ?? 0,
      recordRequests: options.recordRequests ?? true,
      generation: options.generation ?? 'both',
    });
    server.on('connection', (socket) => {
      fake.connections++;
      fake.sockets.add(socket);
      socket.once('close', () => fake.sockets.delete(socket));
    });
    return fake;
  }

  async close(): Promise<void> {
    for (const pending of [...this.timers]) pending.resolve();
    this.handoff.close();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** Clears scenarios, records, counters, per-token statuses, files and conversations; issued tokens stay valid. */
  reset(): void {
    this.scenarios = [];
    this.sentinelScenarios = [];
    this.oauthFailures = null;
    this.fileStatusFailures = null;
    this.requests.length = 0;
    this.abortedStreams = 0;
    this.oauthExchanges = 0;
    this.sentinelCalls = 0;
    this.tokenStatuses.clear();
    this.grants.clear();
    this.files.clear();
    this.conversations.clear();
    this.defaultAnswer = DEFAULT_ANSWER;
    this.powDifficulty = this.options.powDifficulty;
    this.flows.reset();
    this.handoff.reset();
    this.cloudflare.reset();
    this.resetGizmos();
    this.webApp.reset();
    this.sessionAuth.reset();
  }

  /** Which send flows an account gets: by its access token or its user id (`both`, `f` or `classic`). */
  setGeneration(accessTokenOrUserId: string, generation: Generation): void {
    const check = this.tokens.checkBearer(`Bearer ${accessTokenOrUserId}`);
    this.flows.setGeneration(check.ok ? check.record.userId : accessTokenOrUserId, generation);
  }

  createAccessToken(opts?: AccessTokenOptions): string {
    return this.tokens.createAccessToken(opts);
  }

  createRefreshToken(opts?: RefreshTokenOptions): string {
    return this.tokens.createRefreshToken(opts);
  }

  /** Whether this refresh token would be exchanged now (known, neither revoked nor spent by a rotation). */
  isLiveRefreshToken(token: string): boolean {
    return this.tokens.isLiveRefreshToken(token);
  }

  /** A `__Secure-next-auth.session-token` value whose `/api/auth/session` answers an AccessToken (session-auth.ts). */
  createSessionToken(opts?: SessionTokenOptions): string {
    return this.sessionAuth.create(opts);
  }

  revokeRefreshToken(rt: string): void {
    this.tokens.revokeRefreshToken(rt);
  }

  revokeAccessToken(at: string): void {
    this.tokens.revokeAccessToken(at);
  }

  setTokenStatus(at: string, status: 401 | 403 | 429, opts: TokenStatusOptions = {}): void {
    this.tokenStatuses.set(at, {
      status,
      clearsAt: opts.clearsInSec !== undefined ? Date.now() + opts.clearsInSec * 1000 : undefined,
      remaining: opts.times,
    });
  }

  clearTokenStatus(at: string): void {
    this.tokenStatuses.delete(at);
  }

  enqueue(scenario: Scenario): void {
    this.scenarios.push(scenario);
  }

  /** The next chat-requirements calls answer these (FIFO) instead of a grant. */
  enqueueSentinel(scenario: SentinelScenario): void {
    this.sentinelScenarios.push(scenario);
  }

  /** The next `times` /oauth/token calls fail with this status (e.g. 500, 503) whatever the token. */
  failOAuth(status: number, times = 1, body: unknown = { error: 'server_error', error_description: 'Internal error' }): void {
    this.oauthFailures = { status, body, remaining: times };
  }

  /**
   * Holds the next /oauth/token call until `release()`: `arrived` resolves once it is waiting. A test can then act
   * while an exchange is in flight, without guessing how long it takes.
   */
  holdNextOAuth(): { arrived: Promise<void>; release: () => void } {
    let arrived!: () => void;
    let release!: () => void;
    const arrival = new Promise<void>((resolve) => (arrived = resolve));
    this.oauthHold = { arrived, released: new Promise<void>((resolve) => (release = resolve)) };
    return { arrived: arrival, release };
  }

  setDefaultAnswer(text: string): void {
    this.defaultAnswer = text;
  }

  /** Makes `GET /backend-api/gizmos/<id>` and gizmo conversations work for this id. */
  addGizmo(id: string, name = 'Fake GPT'): void {
    this.gizmos.set(id, name);
  }

  /** Extra routes answered before the simulated service (the `npm run fake` tool's `/_fake/…` controls). */
  useControlRoutes(routes: ControlRoutes): void {
    this.controlRoutes = routes;
  }

  /** How many scenarios are still queued. */
  get pendingScenarios(): number {
    return this.scenarios.length;
  }

  /** The conversation POSTs of either flow (`/conversation`, `/f/conversation`). */
  conversationRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.method === 'POST' && /^\/backend-(api|anon)\/(f\/)?conversation$/.test(r.path));
  }

  /** The first sentinel call of each attempt, whichever flow: `chat-requirements` or `chat-requirements/prepare`. */
  sentinelRequests(): RecordedRequest[] {
    return this.requests.filter(
      (r) => r.method === 'POST' && /^\/backend-(api|anon)\/sentinel\/chat-requirements(\/prepare)?$/.test(r.path),
    );
  }

  /** The next `times` `GET /files/<id>` (the retrieval-index status poll) answer `status`. */
  failFileStatus(status: number, times = 1): void {
    this.fileStatusFailures = { status, times };
  }

  /** Every signed download URL handed out so far stops working, as the real ones do after a few minutes. */
  expireDownloadUrls(): void {
    for (const file of this.files.values()) file.sig = randomBytes(24).toString('base64url');
  }

  /** Bytes a client uploaded through the blob URL, or undefined. */
  uploadedFile(fileId: string): { name: string; mime: string; bytes: Buffer; useCase: string } | undefined {
    const file = this.files.get(fileId);
    return file?.bytes ? { name: file.name, mime: file.mime, bytes: file.bytes, useCase: file.useCase } : undefined;
  }

  private resetGizmos(): void {
    this.gizmos.clear();
    this.gizmos.set('g-known', 'Known GPT');
  }

  // ---------------------------------------------------------------- dispatch

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Split by hand: `new URL('//backend-api/x', base)` would read "backend-api" as a host.
    const target = req.url ?? '/';
    const queryAt = target.indexOf('?');
    const pathname = (queryAt < 0 ? target : target.slice(0, queryAt)).replace(/\/{2,}/g, '/');
    const raw = await readBody(req);
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path: pathname,
      query: Object.fromEntries(new URLSearchParams(queryAt < 0 ? '' : target.slice(queryAt + 1))),
      headers: req.headers,
      body: parseBody(raw, req.headers['content-type']),
      at: Date.now(),
    };
    if (this.options.recordRequests) this.requests.push(record);
    try {
      await this.route(record, raw, res);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError || err instanceof FlowRefusal) {
        send(res, err.status, err.body, err.headers);
      } else {
        send(res, 500, { detail: `fake upstream failure: ${(err as Error).message}` });
      }
    }
  }

  private async route(r: RecordedRequest, raw: Buffer, res: ServerResponse): Promise<void> {
    const { method, path } = r;
    const controlled = this.controlRoutes?.(r);
    if (controlled) return send(res, controlled.status, controlled.body);
    if (this.cloudflare.intercept(r, res)) return;
    if (this.sessionAuth.route(r, res)) return;
    if (this.webApp.route(r, res)) return;
    if (method === 'GET' && path === '/') return sendText(res, 200, homePage(), 'text/html; charset=utf-8');
    if (method === 'POST' && path === '/oauth/token') return this.oauthToken(r, res);
    let m = /^\/blob\/([^/]+)$/.exec(path);
    if (m && method === 'PUT') return this.putBlob(m[1], r, raw, res);
    m = /^\/download\/([^/]+)$/.exec(path);
    if (m && method === 'GET') return this.download(m[1], r, res);
    if (method === 'GET' && path === '/backend-api/sentinel/sdk.js') {
      return sendText(res, 200, `/* sentinel sdk ${BUILD_ID} */`, 'application/javascript');
    }

    const anon = /^\/backend-anon\//.test(path);
    if (!anon && !/^\/backend-api\//.test(path)) throw new HttpError(404, { detail: 'Not Found' });
    const sub = path.replace(/^\/backend-(api|anon)/, '');

    if (method === 'POST' && (sub === '/conversation' || sub === '/f/conversation') && this.scenarios[0]?.kind === 'cf_challenge') {
      // Cloudflare sits in front of everything: its challenge comes before any check of ours.
      this.scenarios.shift();
      return sendText(res, 403, cloudflareChallengePage(), 'text/html; charset=UTF-8', { 'cf-mitigated': 'challenge' });
    }
    const caller = this.identify(r, anon);

    if (method === 'POST' && sub === '/sentinel/chat-requirements') return this.chatRequirements(r, caller, res);
    if (method === 'POST' && sub === '/conversation') {
      this.flows.refuseClassicConversation(caller.owner);
      return this.conversation(r, caller, res, () => this.options.requireSentinel && this.checkSentinelHeaders(r, caller));
    }
    const newFlow = this.newFlowCall(r, sub, caller, res);
    if (newFlow) return newFlow;
    if (method === 'GET' && sub === '/models') return send(res, 200, modelsDocument(caller.persona));
    if (anon) throw new HttpError(404, { detail: 'Not Found' });
    if (method === 'GET' && sub === '/celsius/ws/user') {
      const answer = this.handoff.socketUrl(caller.owner);
      return send(res, answer.status, answer.body);
    }
    if (method === 'POST' && sub === '/f/conversation/resume') return this.handoff.resume(caller.owner, r.body, res);

    const token = caller.token as AccessTokenRecord;
    if (method === 'GET' && sub === '/me') return send(res, 200, meDocument(token));
    if (method === 'GET' && sub === '/accounts/check/v4-2023-04-27') return send(res, 200, accountsCheckDocument(token));
    if ((m = /^\/gizmos\/([^/]+)$/.exec(sub)) && method === 'GET') {
      const name = this.gizmos.get(m[1]);
      if (!name) throw new HttpError(404, { detail: 'Gizmo not found' });
      return send(res, 200, gizmoDocument(m[1], name));
    }
    if (method === 'GET' && sub === '/conversations') return send(res, 200, this.listConversations(caller, r.query));
    // The 2026 web app's way of opening one (`?num_turns=…`); the fake answers the whole conversation.
    if ((m = /^\/conversations\/([0-9a-f-]{36})$/i.exec(sub)) && method === 'GET') {
      return send(res, 200, this.conversationDetail(this.ownedConversation(caller, m[1])));
    }
    if ((m = /^\/conversation\/([^/]+)$/.exec(sub))) {
      if (method === 'GET') return send(res, 200, this.conversationDetail(this.ownedConversation(caller, m[1])));
      if (method === 'PATCH') return send(res, 200, this.patchConversation(this.ownedConversation(caller, m[1]), r.body));
    }
    if ((m = /^\/conversation\/([^/]+)\/interpreter\/download$/.exec(sub)) && method === 'GET') {
      return send(res, 200, this.interpreterDownload(this.ownedConversation(caller, m[1]), r.query));
    }
    if (method === 'POST' && sub === '/files') return send(res, 200, this.createFile(caller, r.body));
    if ((m = /^\/files\/([^/]+)\/uploaded$/.exec(sub)) && method === 'POST') {
      const file = this.ownedFile(caller, m[1]);
      if (!file.bytes) throw new HttpError(400, { detail: 'File upload has not completed' });
      return send(res, 200, {
        status: 'success',
        download_url: this.downloadUrl(file),
        metadata: null,
        file_name: file.name,
        creation_time: file.created,
      });
    }
    if ((m = /^\/files\/([^/]+)\/download$/.exec(sub)) && method === 'GET') {
      const file = this.ownedFile(caller, m[1]);
      return send(res, 200, {
        status: 'success',
        download_url: this.downloadUrl(file),
        metadata: {},
        file_name: file.name,
        creation_time: file.created,
      });
    }
    if ((m = /^\/files\/([^/]+)$/.exec(sub)) && method === 'GET') {
      if (this.fileStatusFailures && this.fileStatusFailures.times-- > 0) {
        throw new HttpError(this.fileStatusFailures.status, { detail: 'The file service is unavailable.' });
      }
      const file = this.ownedFile(caller, m[1]);
      const indexed = file.bytes !== null && file.pendingPolls <= 0;
      if (file.bytes) file.pendingPolls--;
      return send(res, 200, {
        file_id: file.id,
        file_name: file.name,
        file_size: file.size,
        use_case: file.useCase,
        status: file.bytes ? 'success' : 'pending',
        upload_status: file.bytes ? 'success' : 'pending',
        retrieval_index_status: indexed ? 'success' : 'pending',
        creation_time: file.created,
      });
    }
    throw new HttpError(404, { detail: 'Not Found' });
  }

  /** Who is calling: a valid bearer on /backend-api, the device on /backend-anon. Throws 401 otherwise. */
  private identify(r: RecordedRequest, anon: boolean): Caller {
    if (anon) {
      const device = String(r.headers['oai-device-id'] ?? '');
      return { owner: `anon:${device}`, persona: 'chatgpt-noauth', token: null };
    }
    const check = this.tokens.checkBearer(r.headers.authorization);
    if (!check.ok) {
      if (check.reason === 'missing') throw new HttpError(401, { detail: 'Unauthorized' });
      throw new HttpError(401, check.reason === 'token_expired' ? TOKEN_EXPIRED : INVALID_JWT);
    }
    return { owner: check.record.userId, persona: check.record.persona, token: check.record };
  }

  /** The sticky per-token failure set by setTokenStatus, if still active; consumes one of its `times`. */
  private applyTokenStatus(caller: Caller): void {
    if (!caller.token) return;
    const state = this.tokenStatuses.get(caller.token.token);
    if (!state) return;
    if (state.clearsAt !== undefined && Date.now() >= state.clearsAt) {
      this.tokenStatuses.delete(caller.token.token);
      return;
    }
    if (state.remaining !== undefined) {
      state.remaining--;
      if (state.remaining <= 0) this.tokenStatuses.delete(caller.token.token);
    }
    if (state.status === 429) {
      const clearsIn = state.clearsAt !== undefined ? Math.max(1, Math.ceil((state.clearsAt - Date.now()) / 1000)) : 3600;
      throw new HttpError(429, rateLimitBody(clearsIn), { 'retry-after': String(clearsIn) });
    }
    if (state.status === 401) throw new HttpError(401, TOKEN_EXPIRED);
    throw new HttpError(403, {
      detail: {
        code: 'account_deactivated',
        message:
          'You do not have an account because it has been deleted or deactivated. If you believe this was an error, please contact us.',
      },
    });
  }

  // ---------------------------------------------------------------- sentinel

  /**
   * What every first sentinel call (either flow) goes through: a queued sentinel scenario, the token's status,
   * and a `p` requirements token holding a valid config. True when a challenge page was answered instead.
   */
  private sentinelGate(r: RecordedRequest, caller: Caller, res: ServerResponse): boolean {
    this.sentinelCalls++;
    const queued = this.sentinelScenarios.shift();
    if (queued?.kind === 'cf_challenge') {
      sendText(res, 403, cloudflareChallengePage(), 'text/html; charset=UTF-8', { 'cf-mitigated': 'challenge' });
      return true;
    }
    if (queued?.kind === 'status') throw statusScenarioError(queued);
    this.applyTokenStatus(caller);
    const p = isRecord(r.body) ? r.body.p : undefined;
    if (typeof p !== 'string' || !p.startsWith('gAAAAAC')) {
      throw new HttpError(400, { detail: 'Invalid request: missing or malformed requirements token "p"' });
    }
    if (decodeProofConfig(p.slice('gAAAAAC'.length)) === null) {
      throw new HttpError(400, { detail: 'Invalid request: the requirements token does not hold a valid config' });
    }
    return false;
  }

  private chatRequirements(r: RecordedRequest, caller: Caller, res: ServerResponse): void {
    if (this.sentinelGate(r, caller, res)) return;
    const token = `gAAAAAB${randomBytes(180).toString('base64url')}`;
    const seed = String(Math.random());
    this.grants.set(token, { seed, difficulty: this.powDifficulty, owner: caller.owner, used: false });
    send(
      res,
      200,
      {
        persona: caller.persona,
        token,
        expire_after: 540,
        expire_at: Math.floor(Date.now() / 1000) + 540,
        proofofwork: { required: true, seed, difficulty: this.powDifficulty },
        turnstile: this.options.turnstileRequired ? { required: true, dx: randomBytes(96).toString('base64') } : { required: false },
        arkose: this.options.arkoseRequired ? { required: true, dx: randomBytes(96).toString('base64') } : { required: false, dx: null },
      },
      sentinelCookies(r),
    );
  }

  /** Consumes the chat-requirements token and checks the proof; throws the upstream's 403s. */
  private checkSentinelHeaders(r: RecordedRequest, caller: Caller): void {
    const chatToken = header(r.headers, 'openai-sentinel-chat-requirements-token');
    const grant = chatToken ? this.grants.get(chatToken) : undefined;
    if (!grant || grant.used || grant.owner !== caller.owner) throw new HttpError(403, { detail: UNUSUAL_ACTIVITY });
    grant.used = true;
    const proof = header(r.headers, 'openai-sentinel-proof-token') ?? '';
    if (!proof.startsWith('gAAAAAB') || !checkPowAnswer(grant.seed, grant.difficulty, proof.slice('gAAAAAB'.length))) {
      throw new HttpError(403, { detail: 'Proof of work failed' });
    }
    if (this.options.arkoseRequired && !header(r.headers, 'openai-sentinel-arkose-token')) {
      throw new HttpError(403, { detail: UNUSUAL_ACTIVITY });
    }
  }

  /** The new flow's four calls (f-conversation.ts); undefined for any other path. */
  private newFlowCall(r: RecordedRequest, sub: string, caller: Caller, res: ServerResponse): Promise<void> | undefined {
    const calls: Record<string, () => void | Promise<void>> = {
      '/sentinel/chat-requirements/prepare': () => {
        if (this.sentinelGate(r, caller, res)) return;
        send(
          res,
          200,
          this.flows.prepare(caller.owner, caller.persona, this.powDifficulty, this.options.turnstileRequired),
          sentinelCookies(r),
        );
      },
      '/sentinel/chat-requirements/finalize': () => send(res, 200, this.flows.finalize(caller.owner, r.body)),
      '/f/conversation/prepare': () => send(res, 200, this.flows.conduitPrepare(caller.owner, r.headers)),
      '/f/conversation': () =>
        this.conversation(r, caller, res, () => this.flows.checkConversation(caller.owner, r.headers, this.options.requireSentinel)),
    };
    const call = r.method === 'POST' ? calls[sub] : undefined;
    if (!call) return undefined;
    return (async () => {
      this.flows.refuseNewPath(caller.owner);
      await call();
    })();
  }

  // ---------------------------------------------------------------- conversation

  /** Either flow's conversation, once `checkFlow` (that flow's own rules) passed: the same SSE answer. */
  private async conversation(r: RecordedRequest, caller: Caller, res: ServerResponse, checkFlow: () => void): Promise<void> {
    checkFlow();
    const body = validateConversationBody(r.body);
    this.checkAttachments(caller, body.messages);
    this.applyTokenStatus(caller);
    const gizmoId =
      isRecord(body.conversation_mode) && typeof body.conversation_mode.gizmo_id === 'string' ? body.conversation_mode.gizmo_id : null;
    if (gizmoId !== null && !this.gizmos.has(gizmoId)) throw new HttpError(404, { detail: 'Gizmo not found' });
    const existing = typeof body.conversation_id === 'string' ? this.ownedConversation(caller, body.conversation_id) : null;

    const scenario = resolveScenario(this.scenarios.shift() ?? { kind: 'text', text: this.defaultAnswer }, body.messages);
    if (scenario.kind === 'status') throw statusScenarioError(scenario);
    if (scenario.kind === 'json_instead_of_stream') return send(res, scenario.status ?? 200, scenario.body);
    if (scenario.kind === 'cf_challenge') {
      return sendText(res, 403, cloudflareChallengePage(), 'text/html; charset=UTF-8', { 'cf-mitigated': 'challenge' });
    }
    if (scenario.kind === 'no_answer') return sendText(res, 200, 'data: [DONE]\n\n', 'text/event-stream; charset=utf-8');

    const model = String(body.model);
    const conversation = existing ?? this.newConversation(caller, body, gizmoId, model);
    const userMessage = toUserMessage(body.messages[body.messages.length - 1] as Record<string, unknown>);
    const plan = buildAnswer({
      scenario: scenario,
      conversationId: conversation.id,
      userMessage,
      modelSlug: ('model' in scenario && scenario.model) || (model === 'auto' ? 'gpt-4o' : model),
      requestedModel: model,
      registerGeneratedFile: (id, name) => this.registerGeneratedFile(id, name, caller.owner),
      registerSandboxFile: (path, content) => conversation.sandboxFiles.set(path, Buffer.from(content, 'utf8')),
    });
    this.recordTurn(conversation, body.parent_message_id as string, userMessage, plan);

    const trailer: Record<string, unknown>[] = [];
    if (!existing && !conversation.historyDisabled) {
      trailer.push({ type: 'title_generation', title: conversation.title, conversation_id: conversation.id });
    }
    const delta = this.options.deltaEncoding && Array.isArray(body.supported_encodings) && body.supported_encodings.includes('v1');
    if (delta) {
      trailer.push({
        type: 'server_ste_metadata',
        metadata: { turn_exchanges: 1, plan_type: caller.token?.plan ?? 'free' },
        conversation_id: conversation.id,
      });
    }
    const ctx = { conversationId: conversation.id, userMessage, steps: plan.steps, trailer };
    await this.answerTurn(res, caller, delta ? encodeDelta(ctx) : encodeClassic(ctx), plan, {
      conversationId: conversation.id,
      model,
      delta,
    });
  }

  /**
   * Sends a turn's answer: over this response, or (a thinking model on the delta stream) as a `stream_handoff`
   * stub here and the events over the WebSocket. Both send flows call this once their checks have passed.
   */
  private async answerTurn(
    res: ServerResponse,
    caller: Caller,
    frames: Iterable<SseFrame>,
    plan: AnswerPlan,
    turn: { conversationId: string; model: string; delta: boolean },
  ): Promise<void> {
    if (turn.delta && this.handoff.handsOff(turn.model)) {
      const items = [...frames].map((frame) => frame.text);
      return this.handoff.answerWithStub(res, {
        owner: caller.owner,
        conversationId: turn.conversationId,
        items,
        delayMs: plan.delayMs ?? this.options.chunkDelayMs,
      });
    }
    await this.stream(res, frames, plan);
  }

  private newConversation(caller: Caller, body: Record<string, unknown>, gizmoId: string | null, model: string): StoredConversation {
    const now = Date.now();
    const conversation: StoredConversation = {
      id: randomUUID(),
      owner: caller.owner,
      title: titleFrom(body.messages as unknown[]) || 'New chat',
      createTime: now,
      updateTime: now,
      historyDisabled: body.history_and_training_disabled === true,
      isArchived: false,
      isVisible: true,
      gizmoId,
      model,
      mapping: new Map([[ROOT_USER_ID, { id: ROOT_USER_ID, message: null, parent: null, children: [] }]]),
      currentNode: ROOT_USER_ID,
      sandboxFiles: new Map(),
    };
    this.conversations.set(conversation.id, conversation);
    return conversation;
  }

  /** Stores the user message and the finished answer messages in the conversation's tree. */
  private recordTurn(conversation: StoredConversation, parentId: string, userMessage: UpstreamMessage, plan: AnswerPlan): void {
    const parent = conversation.mapping.has(parentId) ? parentId : conversation.currentNode;
    const link = (message: UpstreamMessage, under: string) => {
      conversation.mapping.get(under)?.children.push(message.id);
      conversation.mapping.set(message.id, { id: message.id, message, parent: under, children: [] });
      return message.id;
    };
    let node = link(userMessage, parent);
    for (const step of plan.steps) {
      if (step.kind !== 'message') continue;
      let doc: Record<string, unknown> = { message: structuredClone(step.initial) };
      for (const op of [...step.chunks.flat(), ...step.final]) doc = applyDelta(doc, op);
      node = link(doc.message as UpstreamMessage, node);
    }
    conversation.currentNode = node;
    conversation.updateTime = Date.now();
  }

  private async stream(res: ServerResponse, frames: Iterable<SseFrame>, plan: AnswerPlan): Promise<void> {
    const delayMs = plan.delayMs ?? this.options.chunkDelayMs;
    let gone = false;
    let cutByUs = false;
    this.openStreams++;
    res.once('close', () => {
      gone = true;
      this.openStreams--;
      if (!res.writableFinished && !cutByUs) this.abortedStreams++;
    });
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
    });
    res.flushHeaders();
    let contentSent = 0;
    let first = true;
    let sentAt: string | undefined;
    for (const frame of frames) {
      if (gone) return;
      if (!first && delayMs > 0) await this.sleep(delayMs, res);
      first = false;
      if (gone) return;
      if (frame.content) {
        if (plan.cutAfterChunks !== undefined && contentSent >= plan.cutAfterChunks) {
          cutByUs = true;
          res.destroy();
          return;
        }
        if (plan.stall && contentSent === plan.stall.afterChunks) {
          await this.sleep(plan.stall.ms, res);
          if (gone) return;
        }
        contentSent++;
      }
      let text = frame.text;
      if (plan.sendTimePlaceholder && text.includes(plan.sendTimePlaceholder)) {
        // The classic format repeats the text so far in every frame: the stamp stays the first piece's.
        sentAt ??= sentAtStamp();
        text = text.replace(plan.sendTimePlaceholder, sentAt);
      }
      if (!res.write(text)) await drained(res);
    }
    if (!gone) res.end();
  }

  /** Waits `ms`, or less when the server closes or `until` (a stream's response) closes first. */
  private sleep(ms: number, until?: ServerResponse): Promise<void> {
    return new Promise((resolve) => {
      const pending = {
        resolve: () => {
          clearTimeout(pending.timer);
          this.timers.delete(pending);
          until?.off('close', pending.resolve);
          resolve();
        },
        timer: setTimeout(() => pending.resolve(), ms),
      };
      this.timers.add(pending);
      until?.once('close', pending.resolve);
    });
  }

  private checkAttachments(caller: Caller, messages: unknown[]): void {
    for (const message of messages as Record<string, unknown>[]) {
      const content = message.content as Record<string, unknown>;
      const ids: string[] = [];
      if (Array.isArray(content.parts)) {
        for (const part of content.parts) {
          if (isRecord(part) && part.content_type === 'image_asset_pointer') {
            ids.push((typeof part.asset_pointer === 'string' ? part.asset_pointer : '').replace(/^file-service:\/\//, ''));
          }
        }
      }
      const attachments = isRecord(message.metadata) && Array.isArray(message.metadata.attachments) ? message.metadata.attachments : [];
      for (const a of attachments) ids.push(isRecord(a) ? String(a.id) : '');
      for (const id of ids) {
        const file = this.files.get(id);
        if (!file || file.owner !== caller.owner || !file.bytes) {
          throw new HttpError(400, { detail: `File ${id} was not found or its upload is not complete` });
        }
      }
    }
  }

  // ---------------------------------------------------------------- conversations

  private ownedConversation(caller: Caller, id: string): StoredConversation {
    const conversation = this.conversations.get(id);
    if (!conversation || conversation.owner !== caller.owner || !conversation.isVisible) {
      throw new HttpError(404, { detail: { code: 'conversation_not_found', message: 'Conversation not found' } });
    }
    return conversation;
  }

  private listConversations(caller: Caller, query: Record<string, string>): Record<string, unknown> {
    const offset = Number(query.offset ?? 0) || 0;
    const limit = Number(query.limit ?? 28) || 28;
    const archived = query.is_archived === 'true';
    const mine = [...this.conversations.values()]
      .filter((c) => c.owner === caller.owner && c.isVisible && !c.historyDisabled && c.isArchived === archived)
      .sort((a, b) => b.updateTime - a.updateTime);
    return {
      items: mine.slice(offset, offset + limit).map((c) => ({
        id: c.id,
        title: c.title,
        create_time: isoTime(c.createTime),
        update_time: isoTime(c.updateTime),
        mapping: null,
        current_node: null,
        conversation_template_id: null,
        gizmo_id: c.gizmoId,
        is_archived: c.isArchived,
        is_starred: null,
        is_do_not_remember: false,
        workspace_id: null,
        async_status: null,
        safe_urls: [],
        conversation_origin: null,
        snippet: null,
      })),
      total: mine.length,
      limit,
      offset,
      has_missing_conversations: false,
    };
  }

  private conversationDetail(c: StoredConversation): Record<string, unknown> {
    return {
      title: c.title,
      create_time: c.createTime / 1000,
      update_time: c.updateTime / 1000,
      mapping: Object.fromEntries(c.mapping),
      moderation_results: [],
      current_node: c.currentNode,
      plugin_ids: null,
      conversation_id: c.id,
      conversation_template_id: null,
      gizmo_id: c.gizmoId,
      is_archived: c.isArchived,
      safe_urls: [],
      default_model_slug: c.model,
    };
  }

  private patchConversation(c: StoredConversation, body: unknown): Record<string, unknown> {
    if (!isRecord(body)) throw new HttpError(400, { detail: 'Invalid JSON body' });
    if (body.is_visible === false) c.isVisible = false;
    if (typeof body.title === 'string') c.title = body.title;
    if (typeof body.is_archived === 'boolean') c.isArchived = body.is_archived;
    c.updateTime = Date.now();
    return { success: true };
  }

  private interpreterDownload(c: StoredConversation, query: Record<string, string>): Record<string, unknown> {
    if (!query.message_id || !query.sandbox_path) throw new HttpError(400, { detail: 'message_id and sandbox_path are required' });
    const content = c.sandboxFiles.get(query.sandbox_path);
    if (!content) throw new HttpError(404, { detail: 'File not found' });
    const id = `file-${randomText(24, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789')}`;
    const name = query.sandbox_path.split('/').pop() as string;
    const file = this.storeFile({
      id,
      name,
      size: content.length,
      useCase: 'ace_output',
      owner: c.owner,
      mime: 'application/octet-stream',
      bytes: content,
    });
    return { status: 'success', download_url: this.downloadUrl(file), file_name: name, file_size_bytes: content.length };
  }

  // ---------------------------------------------------------------- files

  private createFile(caller: Caller, body: unknown): Record<string, unknown> {
    if (!isRecord(body) || typeof body.file_name !== 'string' || typeof body.file_size !== 'number' || typeof body.use_case !== 'string') {
      throw new HttpError(400, { detail: 'file_name (string), file_size (number) and use_case (string) are required' });
    }
    if (!UPLOAD_USE_CASES.includes(body.use_case)) throw new HttpError(400, { detail: `Invalid use_case: ${body.use_case}` });
    const id = `file-${randomText(24, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789')}`;
    const file = this.storeFile({
      id,
      name: body.file_name,
      size: body.file_size,
      useCase: body.use_case,
      owner: caller.owner,
      mime: '',
      bytes: null,
    });
    return {
      status: 'success',
      upload_url: `${this.url}/blob/${id}?se=${encodeURIComponent(isoTime(Date.now() + 300_000))}&sp=cw&sv=2020-04-08&sr=b&sig=${file.sig}`,
      file_id: id,
    };
  }

  private storeFile(fields: Omit<StoredFile, 'sig' | 'created' | 'pendingPolls'>): StoredFile {
    const file: StoredFile = {
      ...fields,
      sig: randomBytes(24).toString('base64url'),
      created: new Date().toISOString(),
      pendingPolls: fields.useCase === 'my_files' ? this.options.fileIndexPolls : 0,
    };
    this.files.set(file.id, file);
    return file;
  }

  private registerGeneratedFile(id: string, name: string, owner: string): number {
    this.generatedImage ??= solidPng(1024, 1024);
    this.storeFile({
      id,
      name,
      size: this.generatedImage.length,
      useCase: 'dalle_output',
      owner,
      mime: 'image/png',
      bytes: this.generatedImage,
    });
    return this.generatedImage.length;
  }

  private ownedFile(caller: Caller, id: string): StoredFile {
    const file = this.files.get(id);
    if (!file || file.owner !== caller.owner) throw new HttpError(404, { detail: 'File not found' });
    return file;
  }

  private downloadUrl(file: StoredFile): string {
    return `${this.url}/download/${file.id}?se=${encodeURIComponent(isoTime(Date.now() + 300_000))}&sp=r&sv=2020-04-08&sr=b&sig=${file.sig}`;
  }

  /** The signed blob-storage URL: no credentials allowed, Azure's block-blob headers required. */
  private putBlob(id: string, r: RecordedRequest, raw: Buffer, res: ServerResponse): void {
    const file = this.files.get(id);
    if (!file || r.query.sig !== file.sig) {
      return sendText(res, 403, azureError('AuthenticationFailed', 'Server failed to authenticate the request.'), 'application/xml');
    }
    const forbidden = FORBIDDEN_BLOB_HEADERS.filter((h) => r.headers[h] !== undefined);
    if (forbidden.length > 0) {
      return sendText(
        res,
        400,
        azureError('InvalidHeaderValue', `Headers not allowed on a signed upload: ${forbidden.join(', ')}`),
        'application/xml',
      );
    }
    if (r.headers['x-ms-blob-type'] !== 'BlockBlob') {
      return sendText(
        res,
        400,
        azureError('MissingRequiredHeader', 'An HTTP header that is mandatory for this request is not specified: x-ms-blob-type'),
        'application/xml',
      );
    }
    file.bytes = raw;
    file.mime = String(r.headers['content-type'] ?? 'application/octet-stream');
    res.writeHead(201, {
      etag: `"0x${randomBytes(8).toString('hex').toUpperCase()}"`,
      'x-ms-request-server-encrypted': 'true',
      'content-length': '0',
    });
    res.end();
  }

  private download(id: string, r: RecordedRequest, res: ServerResponse): void {
    const file = this.files.get(id);
    if (!file || !file.bytes || r.query.sig !== file.sig) {
      return sendText(res, 403, azureError('AuthenticationFailed', 'Server failed to authenticate the request.'), 'application/xml');
    }
    res.writeHead(200, {
      'content-type': file.mime || 'application/octet-stream',
      'content-length': String(file.bytes.length),
      'content-disposition': `attachment; filename="${file.name}"`,
    });
    res.end(file.bytes);
  }

  // ---------------------------------------------------------------- auth server

  private async oauthToken(r: RecordedRequest, res: ServerResponse): Promise<void> {
    this.oauthExchanges++;
    if (this.options.oauthDelayMs > 0) await this.sleep(this.options.oauthDelayMs);
    const hold = this.oauthHold;
    if (hold) {
      this.oauthHold = null;
      hold.arrived();
      await hold.released;
    }
    if (this.oauthFailures) {
      const failure = this.oauthFailures;
      if (--failure.remaining <= 0) this.oauthFailures = null;
      return send(res, failure.status, failure.body);
    }
    const body = isRecord(r.body) ? r.body : {};
    if (body.client_id !== IOS_CLIENT_ID) {
      return send(res, 401, { error: 'access_denied', error_description: 'Unauthorized' });
    }
    if (body.grant_type !== 'refresh_token') {
      return send(res, 403, {
        error: 'unauthorized_client',
        error_description: `Grant type '${String(body.grant_type)}' not allowed for the client.`,
      });
    }
    if (typeof body.refresh_token !== 'string' || body.refresh_token === '') {
      return send(res, 400, { error: 'invalid_request', error_description: 'Missing required parameter: refresh_token' });
    }
    const exchanged = this.tokens.exchange(body.refresh_token);
    if (!exchanged) return send(res, 400, { error: 'invalid_grant', error_description: 'Unknown or invalid refresh token.' });
    send(res, 200, {
      access_token: exchanged.accessToken,
      expires_in: exchanged.ttlSec,
      id_token: exchanged.idToken,
      scope: OAUTH_SCOPE,
      token_type: 'Bearer',
      ...(exchanged.newRefreshToken ? { refresh_token: exchanged.newRefreshToken } : {}),
    });
  }
}

// ---------------------------------------------------------------- helpers

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Resolves when the response can take more data again, or is gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', () => resolve(Buffer.concat(chunks)));
  });
}

function parseBody(raw: Buffer, contentType: string | undefined): unknown {
  if (raw.length === 0) return '';
  const text = raw.toString('utf8');
  if (contentType?.includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(text));
  if (contentType?.includes('json') || /^\s*[{[]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

/**
 * What a sentinel answer sets (gateway-live-ui.md §4.6): Cloudflare's bot-management `__cf_bm`, fresh on each
 * answer, and the sentinel's `oai-sc`. A browser sends both back on its next calls; recorded on the request.
 */
function sentinelCookies(r: RecordedRequest): Record<string, string[]> {
  r.setCookie = [
    `__cf_bm=${randomBytes(32).toString('base64url')}; Path=/; Max-Age=1800; HttpOnly; Secure; SameSite=None`,
    `oai-sc=${randomBytes(32).toString('base64url')}; Path=/; Max-Age=31536000; HttpOnly; Secure; SameSite=Lax`,
  ];
  return { 'set-cookie': r.setCookie };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string, contentType: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

function azureError(code: string, message: string): string {
  return `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
}

function statusScenarioError(s: Extract<Scenario, { kind: 'status' }>): HttpError {
  const headers = { ...(s.headers ?? {}) };
  let body = s.body;
  if (s.status === 429) {
    body ??= rateLimitBody(60);
    const clearsIn = isRecord(body) && isRecord(body.detail) ? body.detail.clears_in : undefined;
    if (typeof clearsIn === 'number' && !Object.keys(headers).some((h) => h.toLowerCase() === 'retry-after')) {
      headers['retry-after'] = String(clearsIn);
    }
  }
  body ??= { detail: defaultStatusDetail(s.status) };
  return new HttpError(s.status, body, headers);
}

function defaultStatusDetail(status: number): string {
  if (status === 403) return UNUSUAL_ACTIVITY;
  if (status === 404) return 'Not Found';
  if (status === 413) return 'Message too long';
  if (status >= 500) return 'Something went wrong. If this issue persists please contact us through our help center at help.openai.com.';
  return 'Request failed';
}

/** The body of POST /conversation, checked the way the upstream rejects malformed requests (400 with a detail). */
function validateConversationBody(body: unknown): Record<string, unknown> & { messages: unknown[] } {
  if (!isRecord(body)) throw new HttpError(400, { detail: 'Request body must be a JSON object' });
  if (!['next', 'variant', 'continue'].includes(body.action as string)) {
    throw new HttpError(400, { detail: `Invalid action: ${JSON.stringify(body.action)}` });
  }
  if (typeof body.model !== 'string' || body.model === '') throw new HttpError(400, { detail: 'model is required' });
  if (typeof body.parent_message_id !== 'string' || body.parent_message_id === '') {
    throw new HttpError(400, { detail: 'parent_message_id is required' });
  }
  if (body.conversation_id !== undefined && body.conversation_id !== null && typeof body.conversation_id !== 'string') {
    throw new HttpError(400, { detail: 'conversation_id must be a string' });
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    throw new HttpError(400, { detail: 'messages must be a non-empty array' });
  body.messages.forEach((m, i) => {
    const where = `messages[${i}]`;
    if (!isRecord(m)) throw new HttpError(400, { detail: `${where} must be an object` });
    if (typeof m.id !== 'string') throw new HttpError(400, { detail: `${where}.id is required` });
    if (!isRecord(m.author) || typeof m.author.role !== 'string') throw new HttpError(400, { detail: `${where}.author.role is required` });
    if (!isRecord(m.content) || typeof m.content.content_type !== 'string') {
      throw new HttpError(400, { detail: `${where}.content.content_type is required` });
    }
    if (['text', 'multimodal_text'].includes(m.content.content_type) && !Array.isArray(m.content.parts)) {
      throw new HttpError(400, { detail: `${where}.content.parts must be an array` });
    }
  });
  return body as Record<string, unknown> & { messages: unknown[] };
}

/** The echo of the last client message, as the upstream sends it back. */
function toUserMessage(m: Record<string, unknown>): UpstreamMessage {
  const role = isRecord(m.author) ? String(m.author.role) : 'user';
  const echo = upstreamMessage({
    role,
    content: m.content as Record<string, unknown>,
    status: 'finished_successfully',
    metadata: isRecord(m.metadata) ? m.metadata : {},
  });
  return { ...echo, id: typeof m.id === 'string' ? m.id : echo.id };
}

function titleFrom(messages: unknown[]): string {
  const last = messages[messages.length - 1] as { content?: { parts?: unknown[] } };
  const text = (last.content?.parts ?? [])
    .filter((p): p is string => typeof p === 'string')
    .join(' ')
    .trim();
  const words = text.split(/\s+/).filter(Boolean).slice(0, 6);
  return words.length ? words.map((w) => w[0].toUpperCase() + w.slice(1)).join(' ') : '';
}
