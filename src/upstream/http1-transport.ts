import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { Readable, pipeline } from 'node:stream';
import zlib from 'node:zlib';

/** One HTTP/1.1 exchange, as `UpstreamClient` describes it (no redirects: an upstream's redirect is its answer). */
export interface Http1Request {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: Buffer | string | Readable;
  agent: http.Agent;
  decompress: boolean;
  dnsLookup?: LookupFunction;
  signal?: AbortSignal;
  timeouts: {
    /** From taking a new socket until it is connected (TLS included). */
    connectMs: number;
    /** From the request sent (body included) until the response headers. */
    responseMs: number;
    /** The longest silence on the socket, body included. */
    idleMs: number;
    /** The whole exchange, body included; none when undefined. */
    totalMs?: number;
  };
}

export interface Http1Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Decoded when the request asked for it; ends, errors or is destroyed like any stream. */
  body: Readable;
}

/** Encodings an answer is decoded from (the ones the request offers in `accept-encoding`). */
const DECODERS: Record<string, () => zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress> = {
  gzip: () => zlib.createGunzip(),
  'x-gzip': () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress(),
};
const ACCEPT_ENCODING = 'gzip, deflate, br';

/** A timeout as Node's own transport errors look (`code`), which `transportFailure` reads. */
function timeoutError(event: string, ms: number): Error {
  return Object.assign(new Error(`Timeout awaiting '${event}' for ${ms}ms`), { name: 'TimeoutError', code: 'ETIMEDOUT' });
}

/**
 * The upstream's HTTP/1.1 calls on Node's own client: got builds and merges an options object, a hooks chain and a
 * timer per phase for every call, several times the CPU of the exchange itself (README, Performance). Same agents,
 * same timeouts, same errors (Node's, with their `code`), same decoding; `UpstreamClient` keeps got for HTTP/2 and
 * redirects.
 *
 * Resolves when the response headers arrive. The deadlines keep running over the body: idle and total until it
 * ends, when a timeout destroys the body with a `TimeoutError`.
 */
export function sendHttp1(request: Http1Request): Promise<Http1Answer> {
  const { timeouts } = request;
  const headers =
    request.decompress && request.headers['accept-encoding'] === undefined
      ? { ...request.headers, 'accept-encoding': ACCEPT_ENCODING }
      : request.headers;
  const client = request.url.startsWith('https:') ? https : http;
  return new Promise<Http1Answer>((resolve, reject) => {
    const timers: NodeJS.Timeout[] = [];
    let settled = false;
    let answerBody: Readable | undefined;
    const clearTimers = () => {
      for (const timer of timers) clearTimeout(timer);
      timers.length = 0;
    };
    const fail = (error: Error) => {
      clearTimers();
      if (!settled) {
        settled = true;
        reject(error);
      }
      outgoing.destroy(error);
      answerBody?.destroy(error);
    };
    const deadline = (event: string, ms: number): NodeJS.Timeout => {
      const timer = setTimeout(() => fail(timeoutError(event, ms)), ms);
      timers.push(timer);
      return timer;
    };

    const outgoing = client.request(request.url, {
      method: request.method,
      headers,
      agent: request.agent,
      lookup: request.dnsLookup,
      signal: request.signal,
    });
    if (timeouts.totalMs !== undefined) deadline('request', timeouts.totalMs);
    outgoing.setTimeout(timeouts.idleMs, () => fail(timeoutError('socket', timeouts.idleMs)));
    outgoing.once('socket', (socket) => {
      // A socket from the keep-alive pool is connected already; a new one has its connection (and TLS handshake) to make.
      if (!socket.connecting) return;
      const timer = deadline('connect', timeouts.connectMs);
      socket.once(client === https ? 'secureConnect' : 'connect', () => clearTimeout(timer));
    });
    outgoing.once('finish', () => {
      if (!settled) {
        const timer = deadline('response', timeouts.responseMs);
        outgoing.once('response', () => clearTimeout(timer));
      }
    });
    outgoing.on('error', fail);
    outgoing.once('response', (response) => {
      const { decoded, headers: answerHeaders } = decode(response, request);
      answerBody = decoded;
      // The body's end (or its failure) ends the exchange's deadlines.
      response.once('end', clearTimers);
      decoded.once('close', clearTimers);
      settled = true;
      resolve({ status: response.statusCode ?? 0, headers: answerHeaders, body: decoded });
    });

    const { body } = request;
    if (body instanceof Readable) {
      // Not `pipeline`: a failed upstream call must not destroy the source, often the client's own request (the
      // gateway forwards uploads), which is still to be answered; `pipe` lets go of it when the call ends.
      body.once('error', fail);
      body.pipe(outgoing);
    } else {
      outgoing.end(body);
    }
  });
}

function decode(response: http.IncomingMessage, request: Http1Request): { decoded: Readable; headers: http.IncomingHttpHeaders } {
  const encoding = String(response.headers['content-encoding'] ?? '').toLowerCase();
  const decoder = DECODERS[encoding];
  const bodiless = request.method === 'HEAD' || response.statusCode === 204 || response.statusCode === 304;
  if (!request.decompress || !decoder || bodiless) return { decoded: response, headers: response.headers };
  const headers = { ...response.headers };
  delete headers['content-encoding'];
  delete headers['content-length'];
  const decoded = decoder();
  // A body that is not what its encoding says fails the body stream, as a cut one does.
  pipeline(response, decoded, () => undefined);
  return { decoded, headers };
}

/** The body of an answer, read whole, or up to `limit` bytes (then the body is destroyed). */
export async function readBody(body: Readable, limit = Infinity): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size >= limit) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks);
}
