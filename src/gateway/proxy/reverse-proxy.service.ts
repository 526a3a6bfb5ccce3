import { Injectable, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { IncomingHttpHeaders } from 'node:http';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApiError } from '../../common/errors/api-error';
import { UpstreamError } from '../../common/errors/upstream-error';
import { abortWhenClientLeaves } from '../../common/http/abort-on-close';
import { OpenStreams } from '../../common/lifecycle/open-streams.registry';
import { UpstreamClient, type UpstreamRequest } from '../../upstream/upstream.client';
import type { GatewayCaller } from '../gateway-identity';
import { GatewayIdentity, upstreamIdentityOf } from '../gateway-identity';
import { PublicOriginResolver } from '../public-origin';
import { accountSecretsRewriter } from '../rewriting/account-secrets';
import { canDecode, decodeBody, DecodedBodyTooLarge } from '../rewriting/content-encoding';
import { rewritingStream, TextRewriter } from '../rewriting/text-rewriter';
import { PublicOrigin, UpstreamHostKind, UpstreamHosts } from '../upstream-hosts';
import { accountVerdict, mayJudgeAccount } from './account-verdict';
import { endPipedAnswerEarly } from './early-end';
import { anonymousChannelHeaders, forwardedRequestHeaders, responseHeadersFor } from './proxy-headers';

/** What one proxied request is: where it goes, as whom, and what happens to its answer. */
export interface ProxyPlan {
  host: UpstreamHostKind;
  /** Path and query on the upstream host, starting with `/`. */
  path: string;
  /** Credentials are attached on the backend host only; elsewhere the caller lends its browser fingerprint. */
  caller?: GatewayCaller;
  /** A body already read (and perhaps changed) by the route; otherwise the browser's body streams through. */
  body?: Buffer;
  /** Headers set after the browser's, e.g. the sentinel answers of NO_SENTINEL. */
  headers?: Record<string, string>;
  /** Browser headers not to forward (lower case). */
  withoutHeaders?: string[];
  /** The body limit of the route (`@LargeBody()` routes take uploads). */
  bodyLimit: number;
  /** Changes a JSON answer before it is rewritten (the WebSocket URL, the debug feature). */
  transformJson?: (document: unknown, origin: PublicOrigin) => unknown;
  /** User content (conversation JSON): no host rewriting, only the account's secrets are replaced. */
  userContent?: boolean;
  /** An event-stream answer passes through this on its way (a seed's conversation recorder). */
  streamThrough?: Transform;
}

/** An upstream answer whose body has not been read yet. */
type UpstreamAnswer = { status: number; headers: IncomingHttpHeaders; body: Readable };

const ALLOWED_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Rewritten as text: pages, styles, scripts and JSON. Everything else passes through byte for byte. */
const TEXT_TYPES =
  /^(text\/html|text\/css|text\/javascript|application\/(?:x-)?javascript|application\/json|application\/[\w.+-]+\+json|text\/plain)\b/i;
const STREAM_TYPES = /^text\/event-stream\b/i;
/**
 * Every other textual type. For a seed these are rewritten too, since any may carry the account's identifiers: the
 * web app's routes change weekly, and an upstream that answers `text/json` or NDJSON today is no reason to leak.
 */
const OTHER_TEXT_TYPES =
  /^(?:text\/|application\/[\w.+-]*(?:json|xml|javascript|ecmascript|urlencoded)\b|[\w-]+\/[\w.-]+\+(?:json|xml)\b)/i;
/** Textual answers that are read as they come (events, records): rewritten line by line, not held until their end. */
const LINE_STREAM_TYPES = /^(?:text\/event-stream|application\/(?:x-)?ndjson|application\/jsonl|application\/json-seq)\b/i;
/** A text body larger than this is passed through unrewritten would leak; it is refused instead. */
const MAX_REWRITTEN_BYTES = 64 * 1024 * 1024;

/** How an answer's body reaches the browser: rewritten whole, rewritten line by line as it streams, or as it came. */
type BodyTreatment = 'whole' | 'lines' | 'raw';

/**
 * The reverse proxy of the browser gateway (gateway.md §5, with its "Ours" notes): forwards a browser request to
 * one configured upstream host with the allow-listed headers, the account's token attached server-side and the
 * account's fingerprint and proxy; streams the request body up and every answer down; rewrites upstream host
 * names and the account's secrets only in pages, scripts, styles and JSON, decoding compressed bodies to do so.
 */
@Injectable()
export class ReverseProxyService {
  private readonly logger = new Logger('GatewayProxy');

  constructor(
    private readonly upstream: UpstreamClient,
    private readonly hosts: UpstreamHosts,
    private readonly origins: PublicOriginResolver,
    private readonly identity: GatewayIdentity,
    private readonly openStreams: OpenStreams,
  ) {}

  async forward(request: Request, response: Response, plan: ProxyPlan): Promise<void> {
    if (!ALLOWED_METHODS.has(request.method)) throw ApiError.of('method_not_allowed', { method: request.method });
    const origin = this.origins.of(request);
    const base = this.hosts.base(plan.host);
    const signal = abortWhenClientLeaves(request, response);
    const fingerprint = plan.caller?.fingerprint ?? this.identity.anonymousFingerprint();
    const credentials = plan.host === 'backend' && plan.caller;

    // A seed's backend path is the one its rules checked and normalised (SeedGate): the only target it may name.
    const seedTarget = plan.caller?.session.kind === 'seed' ? (plan.host === 'backend' ? plan.path.split('?')[0] : null) : undefined;
    const headers = forwardedRequestHeaders(request.headers, plan.withoutHeaders, seedTarget);
    if (!credentials) {
      headers['user-agent'] = fingerprint.userAgent;
      if (fingerprint.clientHints) {
        headers['sec-ch-ua'] = fingerprint.clientHints.secChUa;
        headers['sec-ch-ua-mobile'] = fingerprint.clientHints.secChUaMobile;
        headers['sec-ch-ua-platform'] = fingerprint.clientHints.secChUaPlatform;
      }
      if (plan.host === 'backend') Object.assign(headers, anonymousChannelHeaders(request.headers, base, fingerprint.deviceId));
    }
    Object.assign(headers, plan.headers);
    const body = this.requestBody(request, plan);
    if (plan.body) {
      headers['content-length'] = String(plan.body.length);
      delete headers['transfer-encoding'];
    }

    const upstreamRequest: UpstreamRequest = {
      method: request.method as UpstreamRequest['method'],
      url: base + plan.path,
      identity: credentials ? upstreamIdentityOf(credentials) : undefined,
      proxyUrl: fingerprint.proxyUrl ?? null,
      headers,
      body,
      decompress: false,
      timeoutMs: 60_000,
      signal,
      step: 'gateway',
    };
    let answer;
    try {
      answer = await this.upstream.stream(upstreamRequest);
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof BodyTooLarge) {
        // The rest of the upload is neither read nor wanted: the connection ends with the answer, or it would hang on it.
        response.setHeader('connection', 'close');
        throw ApiError.of('request_too_large', {});
      }
      throw this.unreachable(error, plan.host);
    }
    if (plan.host === 'backend' && plan.caller && judgesAccounts(plan.caller) && mayJudgeAccount(plan.path, answer.status)) {
      answer = await this.reportAccountVerdict(plan.caller, plan.path, answer);
    }
    await this.answer(request, response, plan, origin, answer);
  }

  /**
   * Tells the sessions what an answer that may judge the account says about it (`accountVerdict`), as the chat path
   * does: a pool account is set aside and the seeds on it move; an owner's refused token is renewed or their session
   * ends (`BrowserSessions.report`). The body is read for that (such answers are short) and handed on unchanged.
   */
  private async reportAccountVerdict(caller: GatewayCaller, path: string, answer: UpstreamAnswer): Promise<UpstreamAnswer> {
    const raw = await this.readUpstreamBody(answer.body, 'backend');
    const encoding = contentCodingOf(answer.headers);
    const decoded = canDecode(encoding)
      ? await decodeBody(raw, encoding, MAX_REWRITTEN_BYTES).catch(() => Buffer.alloc(0))
      : Buffer.alloc(0);
    const verdict = accountVerdict(path, answer.status, answer.headers, decoded);
    if (verdict) {
      await this.identity.report(caller, verdict).catch((error: Error) => {
        const account = caller.account.poolAccountId ? `pool account ${caller.account.poolAccountId}` : 'an owner account';
        this.logger.warn(`Reporting ${verdict.kind} on ${account} failed: ${error.message}`);
      });
    }
    return { ...answer, body: Readable.from([raw]) };
  }

  /** The account's secrets, as this session may see them. */
  secretsRewriter(caller: GatewayCaller | undefined): TextRewriter {
    return caller ? accountSecretsRewriter(caller.session, caller.account) : new TextRewriter([]);
  }

  private async answer(request: Request, response: Response, plan: ProxyPlan, origin: PublicOrigin, answer: UpstreamAnswer): Promise<void> {
    const hostRewriter = this.hosts.hostRewriter(origin);
    const secrets = this.secretsRewriter(plan.caller);
    const contentType = String(answer.headers['content-type'] ?? '');
    const encoding = contentCodingOf(answer.headers);
    const treatment = bodyTreatment(answer.status, contentType, encoding, plan.caller);
    if (answer.status === 206 && treatment !== 'raw') {
      // A part of a page or of JSON cannot be rewritten (a secret may straddle its edge), nor passed on as it is.
      answer.body.destroy();
      throw ApiError.of('upstream_partial_text', {});
    }
    const rewrite = treatment === 'whole';
    if (rewrite && !canDecode(encoding)) {
      // Passed on as it is, it would keep the account's secrets and the upstream's hosts (we never offer such a coding).
      answer.body.destroy();
      this.logger.warn(`${plan.host} host answered text in a content coding we cannot decode: ${encoding}`);
      throw ApiError.of('upstream_encoding_unsupported', { encoding });
    }
    // The body to rewrite is read and rewritten before any header is set: a failure is answered with our error alone.
    const rewritten =
      rewrite && request.method !== 'HEAD'
        ? await this.rewrittenBody(answer.body, plan, origin, { contentType, encoding, hostRewriter, secrets })
        : undefined;
    const headers = responseHeadersFor(answer.headers, {
      host: plan.host,
      rewritten: treatment !== 'raw',
      hostRewriter,
      secrets,
      chatPageOrigins: this.origins.chatPageOrigins(origin),
    });
    response.status(answer.status);
    for (const [name, value] of Object.entries(headers)) {
      if (value === null) response.removeHeader(name);
      else response.setHeader(name, value);
    }

    if (request.method === 'HEAD') {
      // The upstream's own HEAD answer. A body we would rewrite has a length only the rewritten body gives, so that
      // one has none (nor the encoding and ETag the rewrite drops); any other keeps the upstream's (RFC 9110 §9.3.2).
      answer.body.resume();
      return void response.end();
    }
    if (!rewritten) {
      const through = STREAM_TYPES.test(contentType) && plan.streamThrough ? [plan.streamThrough] : [];
      if (treatment === 'lines') {
        // Not known to be free of this session's stand-in until it has all passed.
        response.setHeader('cache-control', 'private, no-store');
        through.push(rewritingStream(secrets, MAX_REWRITTEN_BYTES));
      }
      const eventStream = STREAM_TYPES.test(contentType);
      if (eventStream) {
        // Conversation streams: every event goes out as it arrives, nothing is held back.
        response.setHeader('x-accel-buffering', 'no');
        response.flushHeaders();
      }
      await this.pipe(answer.body, response, through, eventStream);
      return;
    }
    // A body that carried the account's secrets is this session's own: no shared cache may keep it.
    if (rewritten.secretsChanged) response.setHeader('cache-control', 'private, no-store');
    if (rewritten.hostsChanged && origin.fromRequest) keepFromSharedCaches(response);
    response.setHeader('content-length', String(rewritten.body.length));
    response.end(rewritten.body);
  }

  /** A text answer read whole, decoded, adjusted (`transformJson`) and rewritten: the account's secrets, then upstream hosts. */
  private async rewrittenBody(
    body: Readable,
    plan: ProxyPlan,
    origin: PublicOrigin,
    {
      contentType,
      encoding,
      hostRewriter,
      secrets,
    }: { contentType: string; encoding: string; hostRewriter: TextRewriter; secrets: TextRewriter },
  ): Promise<{ body: Buffer; secretsChanged: boolean; hostsChanged: boolean }> {
    const raw = await this.readUpstreamBody(body, plan.host);
    let decoded: Buffer;
    try {
      decoded = await decodeBody(raw, encoding, MAX_REWRITTEN_BYTES);
    } catch (error) {
      if (error instanceof DecodedBodyTooLarge) throw ApiError.of('upstream_body_too_large', {});
      // The upstream's fault: a body cut short, or not what its Content-Encoding says.
      this.logger.warn(`${plan.host} host sent a body that does not decode as ${encoding}: ${(error as Error).message}`);
      throw ApiError.of('upstream_body_undecodable', { encoding });
    }
    let text = decoded.toString('utf8');
    if (plan.transformJson && /json/i.test(contentType)) {
      try {
        text = JSON.stringify(await plan.transformJson(JSON.parse(text), origin));
      } catch (error) {
        if (!(error instanceof SyntaxError)) throw error;
      }
    }
    const withoutSecrets = secrets.apply(text);
    const hosts = plan.userContent ? { text: withoutSecrets.text, changed: false } : hostRewriter.apply(withoutSecrets.text);
    return { body: Buffer.from(hosts.text, 'utf8'), secretsChanged: withoutSecrets.changed, hostsChanged: hosts.changed };
  }

  /** An upstream answer's body read whole, for a verdict or a rewrite: too large or cut short, it is our error. */
  private async readUpstreamBody(body: Readable, host: UpstreamHostKind): Promise<Buffer> {
    try {
      return await readAll(body, MAX_REWRITTEN_BYTES);
    } catch (error) {
      throw error instanceof BodyTooLarge ? ApiError.of('upstream_body_too_large', {}) : this.unreachable(error, host);
    }
  }

  /**
   * An event stream is one a shutdown does not wait for (`OpenStreams.registerRecoverable`): the turn it carries goes
   * on upstream, and the web app reads it back from there once the stream has ended.
   */
  private async pipe(body: Readable, response: Response, through: Transform[], eventStream: boolean): Promise<void> {
    const release = eventStream
      ? this.openStreams.registerRecoverable(response, {
          endForShutdown: () => endPipedAnswerEarly(body, through[0] ?? response, response),
        })
      : undefined;
    try {
      await pipeline([body, ...through, response]);
    } catch {
      // The browser left, or the upstream cut its answer: either way this response is over.
      if (!response.writableEnded) response.destroy();
    } finally {
      release?.();
    }
  }

  private requestBody(request: Request, plan: ProxyPlan): Buffer | Readable | undefined {
    if (plan.body) return plan.body;
    if (request.method === 'GET' || request.method === 'HEAD') return undefined;
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > plan.bodyLimit) throw ApiError.of('request_too_large', {});
    if (!(declared > 0) && request.headers['transfer-encoding'] === undefined) return undefined;
    return request.pipe(limitedTo(plan.bodyLimit));
  }

  /** Reads the browser's body for a route that must look into it (a conversation post). */
  async readBody(request: Request, limit: number): Promise<Buffer> {
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) throw ApiError.of('request_too_large', {});
    try {
      return await readAll(request, limit);
    } catch {
      throw ApiError.of('request_too_large', {});
    }
  }

  private unreachable(error: unknown, host: UpstreamHostKind): ApiError {
    const kind = error instanceof UpstreamError ? error.kind : (error as Error).message;
    this.logger.warn(`${host} host unreachable: ${kind}`);
    return ApiError.of('upstream_host_unreachable', { host });
  }
}

/**
 * Pages, scripts, styles and JSON are rewritten whole for everyone. For a shared (seed) user every other textual
 * answer is too, and one without a content type is taken for text (the backend host's API answers nothing binary
 * without saying so; a mangled body is the lesser harm than a leak); event streams and NDJSON are rewritten line by
 * line as they come, unless compressed (then whole: a compressed stream cannot be read line by line as it passes).
 */
function bodyTreatment(status: number, contentType: string, encoding: string, caller: GatewayCaller | undefined): BodyTreatment {
  if (status === 204 || status === 304) return 'raw';
  if (TEXT_TYPES.test(contentType)) return status === 206 && !caller ? 'raw' : 'whole';
  const textual = OTHER_TEXT_TYPES.test(contentType) || contentType.trim() === '';
  if (caller?.session.kind !== 'seed' || !textual) return 'raw';
  const identity = encoding === '' || encoding === 'identity';
  return LINE_STREAM_TYPES.test(contentType) && identity ? 'lines' : 'whole';
}

/** The answer's content coding, as `canDecode` and `decodeBody` name it. */
function contentCodingOf(headers: IncomingHttpHeaders): string {
  return String(headers['content-encoding'] ?? '')
    .trim()
    .toLowerCase();
}

class BodyTooLarge extends Error {}

function limitedTo(limit: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      callback(seen > limit ? new BodyTooLarge('request body too large') : null, chunk);
    },
  });
}

async function readAll(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += buffer.length;
    if (size > limit) {
      stream.destroy();
      throw new BodyTooLarge('body too large');
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * A body that names the origin the request itself gave (no `PUBLIC_URL`) may be kept by the browser, not by a shared
 * cache: the upstream's `public, max-age=31536000` on an asset would let a cache in front hand what one Host got to
 * everyone (gateway.md S17).
 */
function keepFromSharedCaches(response: Response): void {
  const directives = String(response.getHeader('cache-control') ?? '')
    .split(',')
    .map((directive) => directive.trim())
    .filter((directive) => directive && !/^(public|s-maxage=.*)$/i.test(directive));
  if (!directives.some((directive) => /^(private|no-store)$/i.test(directive))) directives.unshift('private');
  response.setHeader('cache-control', directives.join(', '));
  response.vary('Host').vary('X-Forwarded-Host').vary('X-Forwarded-Proto');
}

/** Whose answers are read for a verdict on their account: a pool account's, and an owner's (only a refusal counts). */
function judgesAccounts(caller: GatewayCaller): boolean {
  return caller.account.poolAccountId !== undefined || caller.session.kind === 'owner';
}
