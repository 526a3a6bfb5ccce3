import { Injectable, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { randomUUID } from 'node:crypto';
import { AppConfig } from '../../config/app-config';
import { ApiError } from '../../common/errors/api-error';
import { UpstreamError } from '../../common/errors/upstream-error';
import { SentinelService } from '../../pow/sentinel.service';
import { GatewayCaller, GatewayIdentity, upstreamIdentityOf } from '../gateway-identity';
import { TextRewriter } from '../rewriting/text-rewriter';
import { PublicOrigin, UpstreamHosts } from '../upstream-hosts';
import { WebSocketBridge } from '../websocket/websocket-bridge.service';
import { SeedAdmission, SeedGate } from '../seed/seed-gate.service';
import { ProxyPlan, ReverseProxyService } from './reverse-proxy.service';

/**
 * Conversation posts, classic and `f/` (gateway-live-ui.md §4); `/backend-alt` as the reference knew it. Read whatever
 * the letter case, as the seed rules read a path: `f/Conversation` must not pass without FORCE_NO_HISTORY.
 */
const CONVERSATION_POST = /^\/backend-(?:api|alt)\/(?:f\/)?conversation$/i;
const REQUIREMENTS = /^\/backend-api\/sentinel\/chat-requirements(?:\/(prepare|finalize))?$/i;
/** Paths whose JSON is the user's own content: their bodies get no host rewriting (S21). */
const USER_CONTENT = /^\/backend-api\/(?:conversation|conversations|shared_conversations)\b/;
/**
 * A conversation's download answers (`…/interpreter/download`, `…/attachment/{file}/download`): user content too (the
 * file's name), but for the link they hand out, which leads to the files host and must lead through us.
 */
const CONVERSATION_DOWNLOAD = /^\/backend-api\/conversations?\/[^/]+\/(?:[^/]+\/)*download$/i;

/**
 * `/backend-api/*` (and `/backend-anon/*`, `/public-api/*`, `/sentinel/*` on the backend host): everything passes
 * through with the account's token swapped in, except what the gateway answers or adjusts itself — the
 * NO_SENTINEL requirements and proof of work, FORCE_NO_HISTORY, the WebSocket hand-off URL, the debug feature.
 * Unknown paths are never refused: new upstream routes appear every week.
 */
@Injectable()
export class BackendProxyService {
  private readonly logger = new Logger('GatewayBackend');

  constructor(
    private readonly config: AppConfig,
    private readonly proxy: ReverseProxyService,
    private readonly identity: GatewayIdentity,
    private readonly hosts: UpstreamHosts,
    private readonly sentinel: SentinelService,
    private readonly websockets: WebSocketBridge,
    private readonly seedGate: SeedGate,
  ) {}

  /** `/backend-api/…`: a session is required. */
  async backendApi(request: Request, response: Response, bodyLimit: number): Promise<void> {
    const caller = await this.identity.requireCaller(request);
    await this.toBackend(request, response, caller, request.url, bodyLimit);
  }

  /**
   * `/backend-anon/…`: with a session, the same call as the signed-in app would make (so a signed-out shell
   * still runs as the account); without one, the anonymous upstream channel, with no credentials.
   */
  async backendAnon(request: Request, response: Response, bodyLimit: number): Promise<void> {
    const caller = await this.identity.optionalCaller(request);
    if (caller) return this.toBackend(request, response, caller, request.url.replace(/^\/backend-anon\//, '/backend-api/'), bodyLimit);
    await this.proxy.forward(request, response, { host: 'backend', path: request.url, bodyLimit });
  }

  /** `/public-api/…`, `/sentinel/…`, `/cdn/assets/…`: the backend host; the account's token when there is a session. */
  async backendOptional(request: Request, response: Response, bodyLimit: number): Promise<void> {
    const caller = await this.identity.optionalCaller(request);
    const seed = caller && (await this.admitSeed(request, response, caller, request.url, bodyLimit));
    if (seed?.answered) return;
    await this.proxy.forward(request, response, { host: 'backend', path: seed?.path ?? request.url, caller, bodyLimit, ...seedPlan(seed) });
  }

  /** A seed user's request goes through the seed rules first (gateway.md §4); anyone else's is not looked at. */
  private admitSeed(
    request: Request,
    response: Response,
    caller: GatewayCaller,
    path: string,
    bodyLimit: number,
  ): Promise<SeedAdmission> | undefined {
    return caller.session.kind === 'seed' ? this.seedGate.admit(request, response, caller, path, bodyLimit) : undefined;
  }

  private async toBackend(
    request: Request,
    response: Response,
    caller: GatewayCaller,
    requestedPath: string,
    bodyLimit: number,
  ): Promise<void> {
    const seed = await this.admitSeed(request, response, caller, requestedPath, bodyLimit);
    if (seed?.answered) return;
    const path = seed?.path ?? requestedPath;
    const pathname = path.split('?')[0];
    if (pathname === '/backend-api/edge') return void response.status(204).end();
    const requirements = REQUIREMENTS.exec(pathname);
    if (this.config.noSentinel && request.method === 'POST' && requirements) {
      response.status(200).json(nothingRequired(requirements[1]?.toLowerCase() as 'prepare' | 'finalize' | undefined));
      return;
    }
    if (request.method === 'POST' && CONVERSATION_POST.test(pathname) && (this.config.noSentinel || this.config.forceNoHistory)) {
      return this.conversation(request, response, caller, path, bodyLimit, seed);
    }
    const adjust = this.jsonAdjustment(pathname, caller);
    const seedRules = seedPlan(seed);
    await this.proxy.forward(request, response, {
      host: 'backend',
      path,
      caller,
      bodyLimit,
      userContent: USER_CONTENT.test(pathname),
      ...seedRules,
      transformJson: composed(adjust, seedRules.transformJson),
    });
  }

  /** The conversation post when the gateway must look into it: FORCE_NO_HISTORY, and NO_SENTINEL's own sentinel. */
  private async conversation(
    request: Request,
    response: Response,
    caller: GatewayCaller,
    path: string,
    bodyLimit: number,
    seed: SeedAdmission | undefined,
  ): Promise<void> {
    const seedRules = seedPlan(seed);
    let body = seedRules.body ?? (await this.proxy.readBody(request, bodyLimit));
    if (this.config.forceNoHistory) body = withoutHistory(body);
    const headers: Record<string, string> = {};
    if (this.config.noSentinel) {
      try {
        Object.assign(headers, (await this.sentinel.clear(this.hosts.backendBase(), upstreamIdentityOf(caller))).headers);
      } catch (error) {
        this.logger.warn(`sentinel for a browser conversation failed: ${(error as Error).message}`);
        // Our sentinel call ran as the account: its verdict on the account counts as the browser's own call's would.
        const verdict = error instanceof UpstreamError ? error.accountOutcome : null;
        if (verdict?.kind === 'unauthorized' || verdict?.kind === 'forbidden' || verdict?.kind === 'rate_limited')
          await this.identity.report(caller, verdict);
        throw ApiError.of('sentinel_failed', {});
      }
    }
    // The reference's `X_SIGN`: a fixed header on these answers, for whatever the operator's front end checks. Not a secret.
    if (this.config.noSentinel && this.config.xSign) response.setHeader('x-sign', this.config.xSign);
    await this.proxy.forward(request, response, {
      host: 'backend',
      path,
      caller,
      bodyLimit,
      ...seedRules,
      body,
      headers,
      // The browser's own sentinel answers are replaced by ours, not mixed with them.
      withoutHeaders: this.config.noSentinel ? Object.keys(request.headers).filter((name) => name.startsWith('openai-sentinel-')) : [],
    });
  }

  /** Read whatever the letter case, as the seed rules read a path: the hand-off must not pass on as the account's own URL. */
  private jsonAdjustment(pathname: string, caller: GatewayCaller) {
    if (pathname.toLowerCase() === '/backend-api/celsius/ws/user') {
      return (document: unknown, origin: PublicOrigin) => this.websockets.handOff(document, caller.session, origin);
    }
    if (this.config.enableDebugSidebar && pathname.toLowerCase().startsWith('/backend-api/accounts/check/')) return withDebugFeature;
    if (CONVERSATION_DOWNLOAD.test(pathname)) {
      return (document: unknown, origin: PublicOrigin) => withDownloadUrlThroughUs(document, this.hosts.hostRewriter(origin));
    }
    return undefined;
  }
}

/** What the seed rules add to a proxied request's plan (nothing for anyone else). */
function seedPlan(seed: SeedAdmission | undefined): Pick<ProxyPlan, 'body' | 'transformJson' | 'streamThrough'> {
  if (!seed || seed.answered) return {};
  return { ...(seed.body ? { body: seed.body } : {}), transformJson: seed.transformJson, streamThrough: seed.streamThrough };
}

/** The route's own JSON adjustment, then the seed's scrubbing of what it produced. */
function composed(first: ProxyPlan['transformJson'], then: ProxyPlan['transformJson']): ProxyPlan['transformJson'] {
  if (!first || !then) return first ?? then;
  return async (document, origin) => then(await first(document, origin), origin);
}

/** What the browser's sentinel calls get with NO_SENTINEL: nothing to solve (gateway.md §5.10). */
function nothingRequired(step: 'prepare' | 'finalize' | undefined): Record<string, unknown> {
  if (step === 'finalize') return { token: randomUUID(), expire_at: Math.floor(Date.now() / 1000) + 540 };
  const common = {
    persona: 'chatgpt-paid',
    arkose: { required: false, dx: null },
    turnstile: { required: false, dx: null },
    proofofwork: { required: false, seed: null, difficulty: null },
  };
  return step === 'prepare' ? { ...common, prepare_token: randomUUID() } : { ...common, token: randomUUID() };
}

function withoutHistory(body: Buffer): Buffer {
  let document: unknown;
  try {
    document = JSON.parse(body.toString('utf8'));
  } catch {
    throw ApiError.invalidRequest('The conversation body is not valid JSON.', 'invalid_json');
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document))
    throw ApiError.invalidRequest('The conversation body must be a JSON object.', 'invalid_json');
  return Buffer.from(JSON.stringify({ ...document, history_and_training_disabled: true }), 'utf8');
}

/** The `download_url` of a download answer on our origin (or FILE_HOST), the rest of the answer as it is. */
export function withDownloadUrlThroughUs(document: unknown, hosts: TextRewriter): unknown {
  const answer = document as { download_url?: unknown } | null;
  if (answer && typeof answer === 'object' && typeof answer.download_url === 'string') {
    answer.download_url = hosts.apply(answer.download_url).text;
  }
  return document;
}

/** The debug sidebar shows when an account's features include `debug` (gateway.md §6.6); plans are left alone. */
export function withDebugFeature(document: unknown): unknown {
  const accounts = (document as { accounts?: Record<string, { features?: unknown }> } | null)?.accounts;
  if (accounts && typeof accounts === 'object') {
    for (const account of Object.values(accounts)) {
      if (account && Array.isArray(account.features) && !account.features.includes('debug')) account.features.push('debug');
    }
  }
  return document;
}
