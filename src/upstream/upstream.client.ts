import { Injectable, Logger } from '@nestjs/common';
import got, { type OptionsInit, RequestError, type Response } from 'got';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { AppConfig } from '../config/app-config';
import { UpstreamError } from '../common/errors/upstream-error';
import { isHeaderSafe } from '../common/util/header-value';
import type { UpstreamStep } from '../common/errors/api-error';
import { MetricsService, statusClass } from '../metrics/metrics.service';
import { BrowserFingerprint, fingerprintFor } from './fingerprint';
import { ProxyAgents } from './proxy-agents';
import { transportFailure } from './upstream-failure';

/** Who a call is made as: the account's AccessToken, Team workspace and browser fingerprint. */
export interface UpstreamIdentity {
  accessToken?: string;
  chatgptAccountId?: string;
  fingerprint: BrowserFingerprint;
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
 * The HTTP client to chatgpt.com (or whatever `CHATGPT_BASE_URL` points at), built on got:
 * keep-alive agents per route, the browser header set, connect/idle timeouts, and streaming
 * responses that are never buffered.
 */
@Injectable()
export class UpstreamClient {
  private readonly logger = new Logger(UpstreamClient.name);

  constructor(
    private readonly config: AppConfig,
    private readonly agents: ProxyAgents,
    private readonly metrics: MetricsService,
  ) {}

  /** One of the configured hosts, picked at random per request. */
  pickBaseUrl(): string {
    const urls = this.config.chatgptBaseUrl;
    return urls[Math.floor(Math.random() * urls.length)];
  }

  /** The stable fingerprint of an account key (a token, or a pool account id). */
  fingerprint(accountKey: string): BrowserFingerprint {
    return fingerprintFor(accountKey, this.config.userAgents, this.config.proxyUrl);
  }

  browserHeaders(baseUrl: string, identity: UpstreamIdentity): Record<string, string> {
    const { fingerprint } = identity;
    const headers: Record<string, string> = {
      accept: '*/*',
      'accept-encoding': 'gzip, deflate, br',
      'accept-language': 'en-US,en;q=0.9',
      'oai-language': this.config.oaiLanguage,
      'oai-device-id': fingerprint.deviceId,
      origin: baseUrl,
      referer: `${baseUrl}/`,
      priority: 'u=1, i',
      'sec-fetch-dest': 'empty',
      'sec-fetch-mode': 'cors',
      'sec-fetch-site': 'same-origin',
      'user-agent': fingerprint.userAgent,
    };
    if (fingerprint.clientHints) {
      headers['sec-ch-ua'] = fingerprint.clientHints.secChUa;
      headers['sec-ch-ua-mobile'] = fingerprint.clientHints.secChUaMobile;
      headers['sec-ch-ua-platform'] = fingerprint.clientHints.secChUaPlatform;
    }
    if (identity.accessToken) headers.authorization = `Bearer ${identity.accessToken}`;
    if (identity.chatgptAccountId) headers['chatgpt-account-id'] = identity.chatgptAccountId;
    if (this.config.authKey) headers.authkey = this.config.authKey;
    return headers;
  }

  /** A buffered request; any status is returned, only transport failures throw (as `UpstreamError`). */
  async request(request: UpstreamRequest): Promise<UpstreamResponse> {
    const timed = this.metrics.timeUpstream(request.step);
    try {
      const options = this.options(request);
      // A buffered answer is small: a body that stalls after its headers must not hold the caller for the idle timeout.
      const timeout = { ...options.timeout, request: request.timeoutMs ?? DEFAULT_TIMEOUT_MS };
      const response = (await got({ ...options, timeout, responseType: 'buffer' })) as Response<Buffer>;
      timed(statusClass(response.statusCode));
      return { status: response.statusCode, headers: response.headers, body: response.body };
    } catch (error) {
      timed('error');
      throw this.transportError(error, request);
    }
  }

  /** Resolves as soon as the response headers arrive; the body streams as it comes. */
  async stream(request: UpstreamRequest): Promise<UpstreamStream> {
    const timed = this.metrics.timeUpstream(request.step);
    let body: ReturnType<typeof got.stream>;
    try {
      body = got.stream({ ...this.options(request), isStream: true } as OptionsInit & { isStream: true });
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
      timed(statusClass(response.statusCode));
      return { status: response.statusCode, headers: response.headers, body };
    } catch (error) {
      timed('error');
      body.destroy();
      throw this.transportError(error, request);
    }
  }

  private options(request: UpstreamRequest): OptionsInit {
    const token = request.identity?.accessToken;
    if (token !== undefined && !isHeaderSafe(token)) {
      // The account's own credential, not the upstream or our configuration: the account can never be used.
      throw new UpstreamError({ kind: 'credential_invalid', step: request.step });
    }
    const baseUrl = new URL(request.url).origin;
    const headers = {
      ...(request.identity ? this.browserHeaders(baseUrl, request.identity) : {}),
      ...(request.json !== undefined ? { 'content-type': 'application/json' } : {}),
      ...request.headers,
    };
    const proxyUrl = request.proxyUrl === undefined ? request.identity?.fingerprint.proxyUrl : (request.proxyUrl ?? undefined);
    const agents = this.agents.for(proxyUrl);
    return {
      url: request.url,
      method: request.method ?? 'GET',
      headers,
      body: request.json !== undefined ? JSON.stringify(request.json) : request.body,
      agent: { http: agents.http, https: agents.https },
      throwHttpErrors: false,
      followRedirect: false,
      decompress: request.decompress ?? true,
      retry: { limit: 0 },
      timeout: {
        connect: this.config.upstreamConnectTimeoutMs,
        secureConnect: this.config.upstreamConnectTimeoutMs,
        response: request.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        socket: this.config.upstreamIdleTimeoutMs,
      },
      signal: request.signal,
    };
  }

  private transportError(error: unknown, request: UpstreamRequest): Error {
    const failure = transportFailure(error, request.step);
    if (failure !== error) {
      const code = error instanceof RequestError ? error.code : undefined;
      this.logger.warn(`${request.step}: ${request.method ?? 'GET'} ${safeHost(request.url)} failed: ${code ?? (error as Error).message}`);
    }
    return failure;
  }
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '?';
  }
}
