import http from 'node:http';
import http2 from 'node:http2';
import type https from 'node:https';
import net, { type LookupFunction } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import tls from 'node:tls';
import { LRUCache } from 'lru-cache';
import { Deadlines, decodeAnswer, type ExchangeAnswer, offeredHeaders, timeoutError, type UpstreamExchange } from './exchange';
import { sendBody, sendHttp1 } from './http1-transport';
import { errorCode } from './upstream-failure';

/** Headers of the connection itself, which HTTP/2 forbids (RFC 9113 §8.2.2); `host` is the session's `:authority`. */
const CONNECTION_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
  'http2-settings',
]);
/** Streams a session carries at once until the server's SETTINGS say otherwise (Node's own default as well). */
const DEFAULT_STREAM_LIMIT = 100;
/** Flow-control windows: a slow reader of one answer holds at most this much of it, and a download is not held back. */
const STREAM_WINDOW = 1 << 20;
const SESSION_WINDOW = 16 << 20;

export interface Http2Options {
  /** Trusted CA certificates, as a list. */
  ca?: tls.SecureContextOptions['ca'];
  /** Or already parsed (`UPSTREAM_CA_FILE` with Node's roots), as the https agents get them. */
  secureContext?: tls.SecureContext;
  /** How long a session with no stream stays open. */
  idleMs: number;
  /** The clock that ages what is remembered of HTTP/1.1 origins; `performance.now` unless a test sets it. */
  now?: () => number;
}

/** How long an origin that picked HTTP/1.1 is served as one before it is offered h2 again (it may have moved). */
export const HTTP1_ORIGIN_RECHECK_MS = 10 * 60_000;

interface Connection {
  readonly session: http2.ClientHttp2Session;
  /** The session's TLS socket, whose byte count shows frames arriving (see `checkLiveness`). */
  readonly socket: tls.TLSSocket;
  active: number;
  limit: number;
  retired: boolean;
  idleTimer?: NodeJS.Timeout;
  /** The PING sent after one of its streams timed out, until it is answered (see `checkLiveness`). */
  livenessCheck?: Promise<void>;
}

/**
 * The upstream's HTTP/2 calls on Node's own client, for the direct https routes (`UPSTREAM_HTTP2=auto`). Each
 * origin's streams share one TLS connection (a second opens only past the server's concurrent-stream limit), offered
 * by ALPN; an origin that picks HTTP/1.1 is remembered for a while and its calls go to the https agent. Same deadlines, errors
 * and decoding as `sendHttp1`; got, with its per-call option merging and its HTTP/2 wrapper, is left for redirects.
 */
export class Http2Sessions {
  private readonly open = new Map<string, Connection[]>();
  private readonly connecting = new Map<string, Promise<void>>();
  private readonly http1Origins: LRUCache<string, true>;
  private closed = false;

  constructor(private readonly options: Http2Options) {
    this.http1Origins = new LRUCache<string, true>({
      max: 1024,
      ttl: HTTP1_ORIGIN_RECHECK_MS,
      ttlResolution: 0,
      ...(options.now ? { perf: { now: options.now } } : {}),
    });
  }

  /** Sends the exchange on a session to its origin; to an origin that offers only HTTP/1.1, on `http1Agent`. */
  async send(exchange: UpstreamExchange, http1Agent: https.Agent): Promise<ExchangeAnswer> {
    const url = new URL(exchange.url);
    // A call that checks where it connects (a client's file URL) never rides on a session opened without the check.
    const key = exchange.dnsLookup ? `${url.origin} checked` : url.origin;
    const path = `${url.pathname}${url.search}`;
    const { totalMs } = exchange.timeouts;
    // The whole exchange, from here: waiting for a session and a second attempt included.
    const totalEndsAt = totalMs !== undefined ? Date.now() + totalMs : undefined;
    for (let attempt = 1; ; attempt++) {
      const connection = await this.connectionFor(url, key, exchange, totalEndsAt);
      if (!connection) return sendHttp1({ ...exchange, agent: http1Agent });
      try {
        return await exchangeOn(connection, path, exchange, totalEndsAt, {
          release: () => this.release(key, connection),
          timedOut: () => this.checkLiveness(key, connection, Math.max(exchange.timeouts.connectMs, MIN_LIVENESS_DEADLINE_MS)),
        });
      } catch (error) {
        // A stream the server refused, or one a closing session never sent, reached no one: it is sent once more
        // (a streamed body only once, as it cannot be read again).
        if (attempt > 1 || !unsent.has(error as Error) || exchange.body instanceof Readable) throw error;
      }
    }
  }

  /** Closes every session at once, and any still being opened as soon as it is (the application is stopping). */
  close(): void {
    this.closed = true;
    for (const connections of this.open.values()) for (const connection of connections) connection.session.destroy();
    this.open.clear();
  }

  /**
   * A session with room for one more stream (counted as taken), or undefined for an HTTP/1.1 origin. Waits for at
   * most `MAX_CONNECTION_WAITS` connections (each within the connect deadline): a server that takes no stream on any
   * of them fails the call instead of holding it. A session being checked after a timeout is joined only once it has
   * answered its PING.
   */
  private async connectionFor(
    url: URL,
    key: string,
    exchange: UpstreamExchange,
    totalEndsAt: number | undefined,
  ): Promise<Connection | undefined> {
    for (let waits = 0; ;) {
      if (this.http1Origins.has(key)) return undefined;
      const connections = this.open.get(key) ?? [];
      const ready = connections.find(
        (connection) => usable(connection) && connection.livenessCheck === undefined && connection.active < connection.limit,
      );
      if (ready) {
        this.take(ready);
        return ready;
      }
      const check = connections.find((connection) => usable(connection) && connection.livenessCheck !== undefined)?.livenessCheck;
      if (check) {
        await waitForConnection(check, exchange, totalEndsAt);
        continue;
      }
      if (waits++ === MAX_CONNECTION_WAITS) throw noStreamError();
      let pending = this.connecting.get(key);
      if (!pending) {
        pending = this.connect(url, key, exchange.timeouts.connectMs, exchange.dnsLookup).finally(() => this.connecting.delete(key));
        // Its callers see its failure; one that stopped waiting (aborted) must not leave it unhandled.
        pending.catch(() => undefined);
        this.connecting.set(key, pending);
      }
      await waitForConnection(pending, exchange, totalEndsAt);
    }
  }

  /**
   * Opens a session, or learns that the origin speaks only HTTP/1.1. Resolves once the server's SETTINGS are in:
   * before them the session's stream limit is unknown, and a burst could overrun it.
   */
  private async connect(url: URL, key: string, connectMs: number, lookup: LookupFunction | undefined): Promise<void> {
    const deadline = Date.now() + connectMs;
    const socket = await tlsConnect(url, { ca: this.options.ca, secureContext: this.options.secureContext, lookup, connectMs });
    if (this.closed || socket.alpnProtocol !== 'h2') {
      socket.destroy();
      if (this.closed) throw closedError();
      this.http1Origins.set(key, true);
      return;
    }
    const session = http2.connect(url.origin, { createConnection: () => socket, settings: { initialWindowSize: STREAM_WINDOW } });
    const connection: Connection = { session, socket, active: 0, limit: DEFAULT_STREAM_LIMIT, retired: false };
    // After a GOAWAY the session finishes its streams but takes no new one; its errors reach those streams too.
    session.once('goaway', () => this.retire(key, connection));
    session.once('close', () => this.retire(key, connection));
    session.on('error', () => this.retire(key, connection));
    session.on('remoteSettings', (settings: http2.Settings) => (connection.limit = settings.maxConcurrentStreams ?? DEFAULT_STREAM_LIMIT));
    try {
      await firstSettings(session, Math.max(deadline - Date.now(), 0), connectMs);
    } catch (error) {
      session.destroy();
      throw error;
    }
    if (this.closed || !usable(connection)) {
      this.retire(key, connection);
      session.destroy();
      throw this.closed ? closedError() : noStreamError();
    }
    session.setLocalWindowSize(SESSION_WINDOW);
    this.idle(key, connection);
    const connections = this.open.get(key) ?? [];
    connections.push(connection);
    this.open.set(key, connections);
  }

  private take(connection: Connection): void {
    if (connection.active++ === 0) {
      clearTimeout(connection.idleTimer);
      connection.session.ref();
    }
  }

  private release(key: string, connection: Connection): void {
    if (--connection.active === 0) this.idle(key, connection);
  }

  /** A session without streams holds no one up (the process may exit) and closes when it stays idle. */
  private idle(key: string, connection: Connection): void {
    connection.session.unref();
    connection.idleTimer = setTimeout(() => {
      // Retired first: a closing session refuses new streams, so no call may pick it from here on.
      this.retire(key, connection);
      connection.session.close();
    }, this.options.idleMs).unref();
  }

  /**
   * After a stream of the session timed out. A connection that died without a word (a NAT or middlebox dropped it:
   * no FIN, no RST, no GOAWAY) looks like a slow upstream, and every call put on it would time out in turn until the
   * kernel gives up on it, some 15 minutes later. A PING tells the two apart. Any byte the session receives meanwhile
   * (its answer, a WINDOW_UPDATE, another stream's data) proves it alive too: on a busy uplink the PING waits behind
   * an upload's bytes and its answer comes late. Only when nothing at all arrives within `deadlineMs` is the session
   * retired and destroyed, and the next calls open a fresh one.
   */
  private checkLiveness(key: string, connection: Connection, deadlineMs: number): void {
    if (connection.livenessCheck || !usable(connection)) return;
    const { session, socket } = connection;
    const bytesReadBefore = socket.bytesRead;
    const check = new Promise<void>((resolve) => {
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearInterval(poll);
        if (error) {
          this.retire(key, connection);
          // Its other streams are as dead: they fail now with this error instead of each waiting for its own deadline.
          session.destroy(error);
        }
        resolve();
      };
      const timer = setTimeout(() => settle(timeoutError('ping', deadlineMs)), deadlineMs);
      // The socket's byte count is the one sign of every frame: the session reads the socket natively, without events.
      const poll = setInterval(() => socket.bytesRead > bytesReadBefore && settle(), LIVENESS_POLL_MS);
      session.ping((error) => settle(error ?? undefined));
    });
    connection.livenessCheck = check.finally(() => (connection.livenessCheck = undefined));
  }

  private retire(key: string, connection: Connection): void {
    if (connection.retired) return;
    connection.retired = true;
    clearTimeout(connection.idleTimer);
    const connections = this.open.get(key)?.filter((other) => other !== connection) ?? [];
    if (connections.length > 0) this.open.set(key, connections);
    else this.open.delete(key);
  }
}

/** The least time a session has to show it is alive after a timeout: a busy uplink delays the PING's answer. */
const MIN_LIVENESS_DEADLINE_MS = 5_000;
/** How often a liveness check looks for bytes received since its PING. */
const LIVENESS_POLL_MS = 100;

/** Connections a call waits for before it gives up on an origin that takes no stream (see `connectionFor`). */
const MAX_CONNECTION_WAITS = 3;

/** A session that may take a new stream: neither retired, closing nor destroyed, and allowed at least one stream. */
function usable(connection: Connection): boolean {
  const { session } = connection;
  return !connection.retired && !session.closed && !session.destroyed && connection.limit > 0;
}

function noStreamError(): Error {
  return Object.assign(new Error('The upstream takes no new stream on its HTTP/2 connections'), { code: 'ECONNRESET' });
}

/** Errors of exchanges that never reached the server (see `Http2Sessions.send`). */
const unsent = new WeakSet<Error>();
const NEVER_SENT_CODES = new Set(['ERR_HTTP2_GOAWAY_SESSION', 'ERR_HTTP2_INVALID_SESSION']);

/** The server's first SETTINGS frame, within `ms` (what is left of the connect deadline of `connectMs`). */
function firstSettings(session: http2.ClientHttp2Session, ms: number, connectMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const settle = (error?: Error) => {
      clearTimeout(timer);
      session.off('remoteSettings', onSettings);
      session.off('error', settle);
      session.off('close', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onSettings = () => settle();
    const onClose = () =>
      settle(Object.assign(new Error('The upstream closed the connection before its settings'), { code: 'ECONNRESET' }));
    const timer = setTimeout(() => settle(timeoutError('connect', connectMs)), ms);
    session.once('remoteSettings', onSettings);
    session.once('error', settle);
    session.once('close', onClose);
  });
}

/** What an exchange tells its session: that its stream is done with, and that it timed out. */
interface ExchangeHooks {
  /** Runs once, when the stream closes or was never opened. */
  release: () => void;
  timedOut: () => void;
}

/**
 * One exchange on a stream of `connection`.
 *
 * The body handed on is fed by the stream and ends only when the stream ended cleanly: Node ends a stream that the
 * server reset mid-answer (CANCEL) as if it were complete, and a cut answer must not pass for a whole one. The idle
 * deadline counts the stream's data, so a caller that stops reading frees the stream after the idle time, as an
 * HTTP/1.1 socket would; so does a streamed request body as it is read.
 */
function exchangeOn(
  connection: Connection,
  path: string,
  exchange: UpstreamExchange,
  totalEndsAt: number | undefined,
  hooks: ExchangeHooks,
): Promise<ExchangeAnswer> {
  const { timeouts } = exchange;
  let released = false;
  const releaseOnce = () => {
    if (!released) {
      released = true;
      hooks.release();
    }
  };
  return new Promise<ExchangeAnswer>((resolve, reject) => {
    let settled = false;
    let body: PassThrough | undefined;
    let answerBody: Readable | undefined;
    let stream: http2.ClientHttp2Stream | undefined;
    const fail = (error: Error) => {
      deadlines.clear();
      if (!settled) {
        settled = true;
        reject(error);
      }
      stream?.destroy(error);
      answerBody?.destroy(error);
    };
    const deadlines = new Deadlines((error) => {
      fail(error);
      hooks.timedOut();
    });
    if (totalEndsAt !== undefined && timeouts.totalMs !== undefined) {
      const left = totalEndsAt - Date.now();
      if (left <= 0) {
        releaseOnce();
        reject(timeoutError('request', timeouts.totalMs));
        return;
      }
      deadlines.start('request', left, timeouts.totalMs);
    }
    const bodiless = exchange.body === undefined;
    try {
      // Node would take a bad header name down with the whole session, every other stream on it included.
      stream = connection.session.request(requestHeaders(exchange, path), { signal: exchange.signal, endStream: bodiless });
    } catch (thrown) {
      const error = thrown as Error;
      deadlines.clear();
      releaseOnce();
      if (NEVER_SENT_CODES.has(errorCode(error) ?? '')) unsent.add(error);
      reject(error);
      return;
    }
    const opened = stream;
    const idle = deadlines.start('socket', timeouts.idleMs);
    opened.once('close', () => {
      releaseOnce();
      if (!settled) return fail(streamClosedError(opened.rstCode));
      if (!body || body.destroyed) return;
      if (opened.rstCode === http2.constants.NGHTTP2_NO_ERROR && opened.readableEnded) body.end();
      else body.destroy(streamClosedError(opened.rstCode));
    });
    const armResponseDeadline = () => {
      if (settled) return;
      const timer = deadlines.start('response', timeouts.responseMs);
      opened.once('response', () => clearTimeout(timer));
    };
    if (bodiless) armResponseDeadline();
    else opened.once('finish', armResponseDeadline);
    opened.on('error', (error: Error) => {
      if (!settled && opened.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM) unsent.add(error);
      fail(error);
    });
    opened.once('response', (raw) => {
      idle.refresh();
      const status = Number(raw[':status']);
      const fed = new PassThrough();
      body = fed;
      opened.pipe(fed, { end: false });
      opened.on('data', () => idle.refresh());
      // A caller that lets go of the body lets go of the stream.
      fed.once('close', () => {
        deadlines.clear();
        if (!opened.closed) opened.destroy();
      });
      const { decoded, headers } = decodeAnswer(exchange, status, answerHeaders(raw), fed);
      answerBody = decoded;
      decoded.once('close', () => deadlines.clear());
      settled = true;
      resolve({ status, headers, body: decoded });
    });
    if (exchange.body instanceof Readable) {
      // The upload is activity too, as writes are on an HTTP/1.1 socket: a slow but steady one is not cut as idle.
      const upload = exchange.body;
      const uploading = () => idle.refresh();
      sendBody(upload, opened, fail);
      upload.on('data', uploading);
      opened.once('close', () => upload.off('data', uploading));
    } else if (!bodiless) {
      sendBody(exchange.body, opened, fail);
    }
  });
}

/** The request's headers as HTTP/2 takes them, each checked as Node's HTTP/1.1 client checks it (same errors). */
function requestHeaders(exchange: UpstreamExchange, path: string): http2.OutgoingHttpHeaders {
  const headers: http2.OutgoingHttpHeaders = { ':method': exchange.method, ':path': path };
  for (const [name, value] of Object.entries(offeredHeaders(exchange))) {
    const lower = name.toLowerCase();
    if (CONNECTION_HEADERS.has(lower) || (lower === 'te' && value !== 'trailers')) continue;
    http.validateHeaderName(lower);
    http.validateHeaderValue(lower, value);
    headers[lower] = value;
  }
  return headers;
}

/** The answer's headers without HTTP/2's pseudo-headers (`:status`), as an HTTP/1.1 answer has them. */
function answerHeaders(raw: http2.IncomingHttpHeaders): http.IncomingHttpHeaders {
  const headers: http.IncomingHttpHeaders = {};
  for (const name of Object.keys(raw)) if (!name.startsWith(':')) headers[name] = raw[name];
  return headers;
}

function closedError(): Error {
  return Object.assign(new Error('The upstream client is closed'), { code: 'ERR_HTTP2_INVALID_SESSION' });
}

function streamClosedError(rstCode: number | undefined): Error {
  return Object.assign(new Error(`The upstream reset the stream (HTTP/2 code ${rstCode ?? 'none'})`), { code: 'ECONNRESET' });
}

/** A TLS connection to the URL's host offering h2 and http/1.1, connected (handshake done) within `connectMs`. */
function tlsConnect(
  url: URL,
  options: { ca?: tls.SecureContextOptions['ca']; secureContext?: tls.SecureContext; lookup?: LookupFunction; connectMs: number },
): Promise<tls.TLSSocket> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return new Promise<tls.TLSSocket>((resolve, reject) => {
    const socket = tls.connect({
      host,
      port: Number(url.port) || 443,
      servername: net.isIP(host) ? undefined : host,
      ALPNProtocols: ['h2', 'http/1.1'],
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.secureContext ? { secureContext: options.secureContext } : {}),
      lookup: options.lookup,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(timeoutError('connect', options.connectMs));
    }, options.connectMs);
    // Kept after the handshake: an error before the session takes the socket is then the session's to see.
    socket.on('error', (error: Error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
  });
}

/**
 * Waits for `pending`, or rejects as soon as the call is aborted (an AbortError) or its total deadline passes: the
 * wait is left, not the connection, which other calls may use.
 */
function waitForConnection(pending: Promise<void>, exchange: UpstreamExchange, totalEndsAt: number | undefined): Promise<void> {
  const { signal } = exchange;
  const totalMs = exchange.timeouts.totalMs;
  if (!signal && totalEndsAt === undefined) return pending;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise<void>((resolve, reject) => {
    const settle = (error?: Error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve();
    };
    const onAbort = () => settle(abortError(signal!));
    const timer =
      totalEndsAt !== undefined && totalMs !== undefined
        ? setTimeout(() => settle(timeoutError('request', totalMs)), Math.max(totalEndsAt - Date.now(), 0))
        : undefined;
    signal?.addEventListener('abort', onAbort, { once: true });
    pending.then(() => settle(), settle);
  });
}

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}
