import http from 'node:http';
import https from 'node:https';
import { Readable, type Writable } from 'node:stream';
import { Deadlines, decodeAnswer, type ExchangeAnswer, offeredHeaders, timeoutError, type UpstreamExchange } from './exchange';

/** One HTTP/1.1 exchange: the call and the keep-alive agent (direct or through a proxy) it goes out on. */
export interface Http1Request extends UpstreamExchange {
  agent: http.Agent;
}

/**
 * The upstream's HTTP/1.1 calls on Node's own client: got builds and merges an options object, a hooks chain and a
 * timer per phase for every call, several times the CPU of the exchange itself (README, Performance). Same agents,
 * same timeouts, same errors (Node's, with their `code`), same decoding; `UpstreamClient` keeps got for redirects.
 *
 * Resolves when the response headers arrive. The deadlines keep running over the body: idle and total until it
 * ends, when a timeout destroys the body with a `TimeoutError`.
 */
export function sendHttp1(request: Http1Request): Promise<ExchangeAnswer> {
  const { timeouts } = request;
  const client = request.url.startsWith('https:') ? https : http;
  return new Promise<ExchangeAnswer>((resolve, reject) => {
    let settled = false;
    let answerBody: Readable | undefined;
    const fail = (error: Error) => {
      deadlines.clear();
      if (!settled) {
        settled = true;
        reject(error);
      }
      outgoing.destroy(error);
      answerBody?.destroy(error);
    };
    const deadlines = new Deadlines(fail);

    const outgoing = client.request(request.url, {
      method: request.method,
      headers: offeredHeaders(request),
      agent: request.agent,
      lookup: request.dnsLookup,
      signal: request.signal,
    });
    if (timeouts.totalMs !== undefined) deadlines.start('request', timeouts.totalMs);
    outgoing.setTimeout(timeouts.idleMs, () => fail(timeoutError('socket', timeouts.idleMs)));
    outgoing.once('socket', (socket) => {
      // A socket from the keep-alive pool is connected already; a new one has its connection (and TLS handshake) to make.
      // A proxy agent hands over its TLS socket on a tunnel already open (not `connecting`), before the handshake.
      const secured = client === https;
      if (outgoing.reusedSocket || (!secured && !socket.connecting)) return;
      const timer = deadlines.start('connect', timeouts.connectMs);
      socket.once(secured ? 'secureConnect' : 'connect', () => clearTimeout(timer));
    });
    outgoing.once('finish', () => {
      if (!settled) {
        const timer = deadlines.start('response', timeouts.responseMs);
        outgoing.once('response', () => clearTimeout(timer));
      }
    });
    outgoing.on('error', fail);
    outgoing.once('response', (response) => {
      const { decoded, headers } = decodeAnswer(request, response.statusCode ?? 0, response.headers, response);
      answerBody = decoded;
      // The body's end (or its failure) ends the exchange's deadlines.
      response.once('end', () => deadlines.clear());
      decoded.once('close', () => deadlines.clear());
      settled = true;
      resolve({ status: response.statusCode ?? 0, headers, body: decoded });
    });
    sendBody(request.body, outgoing, fail);
  });
}

/**
 * Sends the request body: a stream as it is read, anything else at once. Not `pipeline`: a failed upstream call must
 * not destroy the source, often the client's own request (the gateway forwards uploads), which is still to be
 * answered; `pipe` lets go of it when the call ends.
 */
export function sendBody(body: UpstreamExchange['body'], outgoing: Writable, fail: (error: Error) => void): void {
  if (body instanceof Readable) {
    body.once('error', fail);
    body.pipe(outgoing);
  } else {
    outgoing.end(body);
  }
}
