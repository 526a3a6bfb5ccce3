import type http from 'node:http';
import type { LookupFunction } from 'node:net';
import { type Readable, pipeline } from 'node:stream';
import zlib from 'node:zlib';

/**
 * One upstream exchange as `UpstreamClient` describes it to either transport (no redirects: an upstream's redirect is
 * its answer). The transports share what is the same for both: deadlines, decoding and reading the body.
 */
export interface UpstreamExchange {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: Buffer | string | Readable;
  decompress: boolean;
  dnsLookup?: LookupFunction;
  signal?: AbortSignal;
  timeouts: {
    /** From taking a new connection until it is connected (TLS included). */
    connectMs: number;
    /** From the request sent (body included) until the response headers. */
    responseMs: number;
    /** The longest silence on the connection (HTTP/1.1) or the stream (HTTP/2), body included. */
    idleMs: number;
    /** The whole exchange, body included; none when undefined. */
    totalMs?: number;
  };
}

export interface ExchangeAnswer {
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

/** The request's headers, offering the encodings it decodes when it decodes and says nothing itself. */
export function offeredHeaders(exchange: UpstreamExchange): Record<string, string> {
  return exchange.decompress && exchange.headers['accept-encoding'] === undefined
    ? { ...exchange.headers, 'accept-encoding': ACCEPT_ENCODING }
    : exchange.headers;
}

/** A timeout as Node's own transport errors look (`code`), which `transportFailure` reads. */
export function timeoutError(event: string, ms: number): Error {
  return Object.assign(new Error(`Timeout awaiting '${event}' for ${ms}ms`), { name: 'TimeoutError', code: 'ETIMEDOUT' });
}

/** The timers of one exchange; each fails it with a `TimeoutError` naming what it waited for. */
export class Deadlines {
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(private readonly fail: (error: Error) => void) {}

  /** `labelMs`: the deadline as configured, when `ms` is what is left of it. */
  start(event: string, ms: number, labelMs = ms): NodeJS.Timeout {
    const timer = setTimeout(() => this.fail(timeoutError(event, labelMs)), ms);
    this.timers.push(timer);
    return timer;
  }

  clear(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.length = 0;
  }
}

/**
 * The answer's body decoded from its `content-encoding` when the exchange asked for it, with the encoding headers
 * dropped; otherwise as it came.
 */
export function decodeAnswer(
  exchange: UpstreamExchange,
  status: number,
  headers: http.IncomingHttpHeaders,
  body: Readable,
): { decoded: Readable; headers: http.IncomingHttpHeaders } {
  const decoder = DECODERS[String(headers['content-encoding'] ?? '').toLowerCase()];
  const bodiless = exchange.method === 'HEAD' || status === 204 || status === 304;
  if (!exchange.decompress || !decoder || bodiless) return { decoded: body, headers };
  const decodedHeaders = { ...headers };
  delete decodedHeaders['content-encoding'];
  delete decodedHeaders['content-length'];
  const decoded = decoder();
  // A body that is not what its encoding says fails the body stream, as a cut one does.
  pipeline(body, decoded, () => undefined);
  return { decoded, headers: decodedHeaders };
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
