// One file on purpose (~400 lines): the one place every outbound call is built, sent by one of two transports, timed, cleared and mapped to an UpstreamError.
import { Injectable, Logger, Optional } from '@nestjs/common';
import got, { type OptionsInit, type Response } from 'got';
import type http from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import { AppConfig } from '../config/app-config';
import { UpstreamError } from '../common/errors/upstream-error';
import { isHeaderSafe } from '../common/util/header-value';
import type { UpstreamStep } from '../common/errors/api-error';
import { MetricsService, statusClass } from '../metrics/metrics.service';
import { BrowserFingerprint, fingerprintFor } from './fingerprint';
import { type AgentPair, poolOf, ProxyAgents } from './proxy-agents';
import { type ExchangeAnswer, readBody, type UpstreamExchange } from './exchange';
import { sendHttp1 } from './http1-transport';
import { LRUCache } from 'lru-cache';
import { AccountCookieJar, mergeCookieHeaders } from './account-cookie-jar';
import { browserHeaders } from './web-app-profile';
import type { ClearanceRoute } from './clearance-jar';
import { CloudflareClearance } from './cloudflare-clearance.service';
import { errorCode, isCloudflareChallenge, mayBeCloudflareChallenge, transportFailure } from './upstream-failure';

/** Who a call is made as: the account's AccessToken, Team workspace and browser fingerprint. */
export interface UpstreamIdentity {
  accessToken?: string;
  chatgptAccountId?: string;
  fingerprint: BrowserFingerprint;
  /**
   * The account key whose cookie jar the call uses: cookies the upstream sets on it go back on the account's later
   * calls to the same origin, the API's and the browser gateway's alike (the account is one browser upstream). Calls
   * as no account (the gateway's anonymous channel, files, CDN) have none.
   */
  cookieJar?: string;
}

export interface UpstreamRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD' | 'OPTIONS';
  url: string;
  /** Adds the browser-like header set of upstream-protocol.md §2 for this identity. */
  identity?: UpstreamIdentity;
  json?: unknown;
  /** A stream is sent as it is read (the gateway forwards browser uploads without buffering them). */
  body?: Buffer | string | Readable;
  /** false: the body comes as the upstream encoded it (`content-encoding` kept), for callers that pass it through. */
  decompress?: boolean;
  headers?: Record<string, string>;
  /** Time allowed until the response headers arrive; for a buffered request, for the whole exchange. */
  timeoutMs?: number;
  /** Overrides the identity's proxy: a URL, or null for a direct connection. */
  proxyUrl?: string | null;
  /** Time allowed for the whole exchange, body included (a streamed one too). */
  totalTimeoutMs?: number;
  /** Off by default: an upstream's redirect is its answer. */
  followRedirects?: boolean;
  /** Resolves host names at connect time (for example refusing private addresses for a URL a client gave). */
  dnsLookup?: LookupFunction;
  signal?: AbortSignal;
  step: UpstreamStep;
}

export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface UpstreamStream {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

const DEFAULT_TIMEOUT_MS = 15_000;
/**
 * Calls without an identity (client file URLs, an external file fetcher, the auth server) say who they are: some
 * file hosts refuse a request without a user agent. Calls as an account send the account's browser user agent.
 */
export const DEFAULT_USER_AGENT = 'Mozilla/5.0 (compatible; FlowGPT)';
/** A challenge page is a few kilobytes; a streamed answer that may be one is read up to this much to find out. */
const MAX_CHALLENGE_BYTES = 256 * 1024;

/**
 * The HTTP client to chatgpt.com (or whatever `CHATGPT_BASE_URL` points at), on Node's HTTP/1.1 and HTTP/2 clients:
 * keep-alive agents per route, the browser header set, connect/idle timeouts, and streaming
 * responses that are never buffered.
 */
@Injectable()
export class UpstreamClient {
  private readonly logger = new Logger(UpstreamClient.name);
  /** The browser header set per account and host, built once rather than on every call (it never changes). */
  private readonly headerSets = new LRUCache<string, Readonly<Record<string, string>>>({ max: 4096 });
  private readonly fingerprints = new LRUCache<string, BrowserFingerprint>({ max: 4096 });
  private readonly cookies = new AccountCookieJar();

  constructor(
    private readonly config: AppConfig,
    private readonly agents: ProxyAgents,
    private readonly metrics: MetricsService,
    @Optional() private readonly clearance?: CloudflareClearance,
  ) {}

  /** One of the configured hosts, picked at random per request. */
  pickBaseUrl(): string {
    const urls = this.config.chatgptBaseUrl;
    return urls[Math.floor(Math.random() * urls.length)];
  }

  /** The stable fingerprint of an account key (a token, or a pool account id). */
  fingerprint(accountKey: string): BrowserFingerprint {
    let fingerprint = this.fingerprints.get(accountKey);
    if (!fingerprint) {
      fingerprint = fingerprintFor(accountKey, this.config.userAgents, this.config.proxyUrl);
      this.fingerprints.set(accountKey, fingerprint);
    }
    return fingerprint;
  }

  /** Who an API call runs as: the account's token and workspace, and the fingerprint and cookies of its account key. */
  accountIdentity(account: { accessToken: string; chatgptAccountId?: string; fingerprintKey: string }): UpstreamIdentity {
    return {
      accessToken: account.accessToken,
      chatgptAccountId: account.chatgptAccountId,
      fingerprint: this.fingerprint(account.fingerprintKey),
      cookieJar: account.fingerprintKey,
    };
  }

  browserHeaders(baseUrl: string, identity: UpstreamIdentity): Record<string, string> {
    return { ...this.sharedBrowserHeaders(baseUrl, identity) };
  }

  /** The cached, shared header set: copy it before changing it. */
  private sharedBrowserHeaders(baseUrl: string, identity: UpstreamIdentity): Readonly<Record<string, string>> {
    const { fingerprint, accessToken, chatgptAccountId } = identity;
    const key = `${baseUrl}\n${fingerprint.deviceId}\n${fingerprint.userAgent}\n${accessToken ?? ''}\n${chatgptAccountId ?? ''}`;
    let headers = this.headerSets.get(key);
    if (!headers) {
      headers = browserHeaders({
        baseUrl,
        fingerprint,
        accessToken,
        chatgptAccountId,
        language: this.config.oaiLanguage,
        authKey: this.config.authKey,
      });
      this.headerSets.set(key, headers);
    }
    return headers;
  }

  /**
   * How to open a WebSocket to the upstream as this identity: the same proxy agent its HTTP calls use (so the
   * socket leaves from the same address) and the browser headers a page's socket sends (no credentials: the
   * socket URL carries its own short-lived token).
   */
  webSocketOptions(url: string, baseUrl: string, identity: UpstreamIdentity): { agent: http.Agent; headers: Record<string, string> } {
    const agents = this.agents.for(identity.fingerprint.proxyUrl);
    const browser = this.browserHeaders(baseUrl, identity);
    const headers: Record<string, string> = {
      'user-agent': browser['user-agent'],
      origin: baseUrl,
      'accept-language': browser['accept-language'],
    };
    return { agent: url.startsWith('wss:') ? agents.https : agents.http, headers };
  }

  /**
   * A buffered request; any status is returned, only transport failures throw (as `UpstreamError`). A Cloudflare
   * challenge is passed once by the clearance helper when it is on (`cf_challenge` when it fails), unless the request
   * has a streamed body: that challenge is returned as it came.
   */
  async request(request: UpstreamRequest): Promise<UpstreamResponse> {
    const clearance = this.clearanceCookie(request);
    const response = await this.requestOnce(request, clearance);
    // The head first, as `stream` does: any answer may mention the challenge's marker (a file name, a title).
    if (!this.clearance?.enabled || !mayBeCloudflareChallenge(response.status, response.headers)) return response;
    if (!isCloudflareChallenge(response.headers, response.body)) return response;
    if (!(await this.passChallenge(request, clearance))) return response;
    return this.requestOnce(request, this.clearanceCookie(request));
  }

  /** Resolves as soon as the response headers arrive; the body streams as it comes. A challenge is passed as by `request`. */
  async stream(request: UpstreamRequest): Promise<UpstreamStream> {
    const clearance = this.clearanceCookie(request);
    const response = await this.streamOnce(request, clearance);
    if (!this.clearance?.enabled || !mayBeCloudflareChallenge(response.status, response.headers)) return response;
    const body = await readBody(response.body, MAX_CHALLENGE_BYTES);
    const read = { ...response, body: Readable.from([body]) };
    if (!isCloudflareChallenge(response.headers, body) || !(await this.passChallenge(request, clearance))) return read;
    return this.streamOnce(request, this.clearanceCookie(request));
  }

  private async requestOnce(request: UpstreamRequest, clearance: string | undefined): Promise<UpstreamResponse> {
    const timed = this.metrics.timeUpstream(request.step);
    try {
      const call = this.prepare(request, clearance);
      // A buffered answer is small: a body that stalls after its headers must not hold the caller for the idle timeout.
      const totalMs = request.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      let answer: UpstreamResponse;
      if (call.send) {
        const response = await call.send({ ...call.exchange, timeouts: { ...call.exchange.timeouts, totalMs } });
        answer = { status: response.status, headers: response.headers, body: await readBody(response.body) };
      } else {
        const options = call.got;
        const response = (await got({
          ...options,
          timeout: { ...options.timeout, request: totalMs },
          responseType: 'buffer',
        })) as Response<Buffer>;
        answer = { status: response.statusCode, headers: response.headers, body: response.body };
      }
      timed(statusClass(answer.status));
      this.keepCookies(request, answer.status, answer.headers);
      return answer;
    } catch (error) {
      timed('error');
      throw this.transportError(error, request);
    }
  }

  private async streamOnce(request: UpstreamRequest, clearance: string | undefined): Promise<UpstreamStream> {
    const timed = this.metrics.timeUpstream(request.step);
    let call: PreparedCall;
    try {
      call = this.prepare(request, clearance);
    } catch (error) {
      timed('error');
      throw this.transportError(error, request);
    }
    if (call.send) {
      try {
        const response = await call.send(call.exchange);
        // Read by the caller, which sees its errors; without a listener of its own a failure nobody reads would be fatal.
        response.body.on('error', () => undefined);
        timed(statusClass(response.status));
        this.keepCookies(request, response.status, response.headers);
        return response;
      } catch (error) {
        timed('error');
        throw this.transportError(error, request);
      }
    }
    let body: ReturnType<typeof got.stream>;
    try {
      body = got.stream({ ...call.got, isStream: true } as OptionsInit & { isStream: true });
    } catch (error) {
      timed('error');
      throw this.transportError(error, request);
    }
    try {
      const response = await new Promise<{ statusCode: number; headers: IncomingHttpHeaders }>((resolve, reject) => {
        body.once('response', resolve);
        body.once('error', reject);
      });
      body.on('error', () => undefined);
      // got leaves a stream that ended normally undestroyed, and so keeps its listener on the caller's abort signal:
      // one from AbortSignal.any() is then held by Node for good, with every request it reaches. By the end the
      // socket is already back in the keep-alive pool, so destroying releases only the request's own state.
      body.once('end', () => body.destroy());
      timed(statusClass(response.statusCode));
      this.keepCookies(request, response.statusCode, response.headers);
      return { status: response.statusCode, headers: response.headers, body };
    } catch (error) {
      timed('error');
      body.destroy();
      throw this.transportError(error, request);
    }
  }

  /**
   * The call, and the transport that takes it: Node's HTTP/2 client for direct https routes with HTTP/2 on
   * (`Http2Sessions`, which falls back to HTTP/1.1 for an origin that does not offer h2), Node's HTTP/1.1 client for
   * the rest (every http URL, every proxied route, https with HTTP/2 off), and got for calls that follow redirects.
   * `clearance`: the Cloudflare clearance cookies to add, if any; the account's own cookies are added with them.
   */
  private prepare(request: UpstreamRequest, clearance: string | undefined): PreparedCall {
    const token = request.identity?.accessToken;
    if (token !== undefined && !isHeaderSafe(token)) {
      // The account's own credential, not the upstream or our configuration: the account can never be used.
      throw new UpstreamError({ kind: 'credential_invalid', step: request.step });
    }
    const headers: Record<string, string> = request.identity
      ? { ...this.sharedBrowserHeaders(originOf(request.url), request.identity) }
      : {};
    if (request.json !== undefined) headers['content-type'] = 'application/json';
    if (request.headers) Object.assign(headers, request.headers);
    headers['user-agent'] ??= DEFAULT_USER_AGENT;
    const cookies = mergeCookieHeaders(clearance, this.accountCookies(request));
    if (cookies) headers.cookie = headers.cookie ? `${headers.cookie}; ${cookies}` : cookies;
    const agents = this.agents.for(proxyUrlOf(request), poolOf(request.step));
    const call: UpstreamExchange = {
      url: request.url,
      method: request.method ?? 'GET',
      headers,
      body: request.json !== undefined ? JSON.stringify(request.json) : request.body,
      decompress: request.decompress ?? true,
      timeouts: {
        connectMs: this.config.upstreamConnectTimeoutMs,
        responseMs: request.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        idleMs: this.config.upstreamIdleTimeoutMs,
        totalMs: request.totalTimeoutMs,
      },
      dnsLookup: request.dnsLookup,
      signal: request.signal,
    };
    if (request.followRedirects === true) return { got: gotOptions(call, agents) };
    const { http: httpAgent, https: httpsAgent, http2: sessions } = agents;
    if (!request.url.startsWith('https:')) return { exchange: call, send: (exchange) => sendHttp1({ ...exchange, agent: httpAgent }) };
    if (sessions) return { exchange: call, send: (exchange) => sessions.send(exchange, httpsAgent) };
    return { exchange: call, send: (exchange) => sendHttp1({ ...exchange, agent: httpsAgent }) };
  }

  /** The account's own cookies for the request's origin, when the call has a cookie jar. */
  private accountCookies(request: UpstreamRequest): string | undefined {
    const jar = request.identity?.cookieJar;
    return jar === undefined ? undefined : this.cookies.cookieHeader(jar, originOf(request.url));
  }

  /**
   * Keeps the cookies an answer to a call with a cookie jar sets; nothing to do (and nothing parsed) without them.
   * Only from an answer the upstream accepted the call with: the jar's key comes from the token's claims, which a
   * refused (forged) token could copy, and its refusal must not change the real account's cookies.
   */
  private keepCookies(request: UpstreamRequest, status: number, headers: IncomingHttpHeaders): void {
    const setCookie = headers['set-cookie'];
    const jar = request.identity?.cookieJar;
    if (setCookie === undefined || jar === undefined || status === 401 || status === 403) return;
    this.cookies.store(jar, originOf(request.url), setCookie);
  }

  /** Where a Cloudflare clearance of this request is valid: its proxy, host and user agent. */
  private clearanceRoute(request: UpstreamRequest): ClearanceRoute | undefined {
    const userAgent = request.headers?.['user-agent'] ?? request.identity?.fingerprint.userAgent;
    // Without a browser user agent a clearance could not be earned for it: the challenge stays as it is.
    if (!userAgent) return undefined;
    return { origin: new URL(request.url).origin, proxyUrl: proxyUrlOf(request), userAgent };
  }

  private clearanceCookie(request: UpstreamRequest): string | undefined {
    const route = this.clearance?.enabled ? this.clearanceRoute(request) : undefined;
    return route ? this.clearance?.cookieHeader(route) : undefined;
  }

  /**
   * Waits until the request's route holds a clearance fresher than `refused`, the one it was challenged with; false
   * when no clearance can be earned for it (no user agent to earn it with), or when the request cannot be sent again:
   * the first send has read its streamed body, and a second would send nothing in its place.
   */
  private async passChallenge(request: UpstreamRequest, refused: string | undefined): Promise<boolean> {
    const route = this.clearanceRoute(request);
    if (!route || !this.clearance || request.body instanceof Readable) return false;
    await this.clearance.pass(route, refused, request.step, request.signal);
    return true;
  }

  /** The transport failure as the API error it becomes; the original stays its `cause` for callers that need the detail. */
  private transportError(error: unknown, request: UpstreamRequest): Error {
    // The caller's own body stream failed (over the caller's limit, its client gone): the caller's failure, passed
    // on as it is for the caller to answer, not the upstream's.
    const bodyFailure = request.body instanceof Readable ? request.body.errored : null;
    if (bodyFailure) return bodyFailure;
    const failure = transportFailure(error, request.step);
    if (failure !== error) {
      const code = errorCode(error);
      failure.cause = error;
      this.logger.warn(`${request.step}: ${request.method ?? 'GET'} ${safeHost(request.url)} failed: ${code ?? (error as Error).message}`);
    }
    return failure;
  }
}

/**
 * What went wrong in the transport's own words (connection refused, a private address refused, a timeout) for
 * logs and for callers that are not talking to the upstream, rather than the client-facing summary it became.
 */
export function transportDetail(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  return (cause instanceof Error ? cause : (error as Error)).message;
}

/** A call made ready for the transport that takes it: one of Node's clients (`send`), or got (redirects). */
type PreparedCall =
  | { exchange: UpstreamExchange; send: (exchange: UpstreamExchange) => Promise<ExchangeAnswer>; got?: undefined }
  | { got: OptionsInit; exchange?: undefined; send?: undefined };

/**
 * got's options for a call it takes: one that follows redirects, over HTTP/1.1. The agents carry `UPSTREAM_CA_FILE`'s
 * trust, parsed once (`PoolLimits.secureContext`): a `ca` here would be parsed again for every connection.
 */
function gotOptions(call: UpstreamExchange, agents: AgentPair): OptionsInit {
  const { timeouts } = call;
  return {
    url: call.url,
    method: call.method as OptionsInit['method'],
    headers: call.headers,
    body: call.body,
    agent: { http: agents.http, https: agents.https },
    throwHttpErrors: false,
    followRedirect: true,
    dnsLookup: call.dnsLookup,
    decompress: call.decompress,
    retry: { limit: 0 },
    timeout: {
      connect: timeouts.connectMs,
      secureConnect: timeouts.connectMs,
      response: timeouts.responseMs,
      socket: timeouts.idleMs,
      ...(timeouts.totalMs !== undefined ? { request: timeouts.totalMs } : {}),
    },
    signal: call.signal,
  };
}

const origins = new LRUCache<string, string>({ max: 256 });

/** The origin of an upstream URL: the part before its path, parsed once per base URL. */
function originOf(url: string): string {
  const pathStart = url.indexOf('/', url.indexOf('//') + 2);
  const base = pathStart === -1 ? url : url.slice(0, pathStart);
  let origin = origins.get(base);
  if (origin === undefined) {
    origin = new URL(base).origin;
    origins.set(base, origin);
  }
  return origin;
}

function proxyUrlOf(request: UpstreamRequest): string | undefined {
  return request.proxyUrl === undefined ? request.identity?.fingerprint.proxyUrl : (request.proxyUrl ?? undefined);
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '?';
  }
}
