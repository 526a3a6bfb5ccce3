import type { Request, Response } from 'express';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { abortWhenClientLeaves } from '../common/http/abort-on-close';
import { countUpstreamAttempt, nameAnswer, requestFactsOf } from '../common/http/request-facts';
import type { LogLevelName } from '../config/app-config';
import { logDestination, pinoOptions } from './log-format';
import { RequestLogMiddleware } from './request-log.middleware';

type Handler = (request: IncomingMessage, response: ServerResponse, logger: pino.Logger) => void;

describe('RequestLogMiddleware', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  /** A server whose every request goes through the middleware, then `handler`. */
  async function serve(level: LogLevelName, handler: Handler) {
    const lines: Record<string, unknown>[] = [];
    const logger = pino(pinoOptions(level), logDestination('json', { write: (text: string) => lines.push(JSON.parse(text)) }));
    const middleware = new RequestLogMiddleware(logger);
    server = createServer((request, response) =>
      middleware.use(request as Request, response as Response, () => handler(request, response, logger)),
    );
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`;
    return { lines, url, logger };
  }

  /** Sends a request; with `leaveEarly`, goes away as soon as the answer has started. */
  function send(url: string, options: { authorization?: string; leaveEarly?: boolean } = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      const request = httpRequest(url, { method: 'POST', headers: options.authorization ? { authorization: options.authorization } : {} });
      request.on('response', (response) => {
        if (options.leaveEarly) {
          request.destroy();
          resolve();
          return;
        }
        response.resume();
        response.on('end', resolve);
      });
      request.on('error', options.leaveEarly ? () => undefined : reject);
      request.end();
    });
  }

  /** The line is written when the server side of the connection is done, which may come after the client is. */
  async function linesOnceWritten(lines: unknown[], count: number): Promise<void> {
    while (lines.length < count) await new Promise((resolve) => setImmediate(resolve));
  }

  it('writes one info line per answered request, with the upstream attempts and the answer id given through the request`s signal', async () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.payload-that-is-long.signature-xyz9';
    const { lines, url } = await serve('log', (request, response) => {
      const signal = abortWhenClientLeaves(request as Request, response as Response);
      countUpstreamAttempt(signal);
      countUpstreamAttempt(signal);
      nameAnswer(signal, 'chatcmpl-first');
      nameAnswer(signal, 'chatcmpl-second');
      response.end('ok');
    });
    await send(url, { authorization: `Bearer ${token}` });
    await send(url);
    await linesOnceWritten(lines, 2);
    expect(lines[0]).toEqual({
      level: 'info',
      time: expect.any(String),
      reqId: 1,
      method: 'POST',
      route: null,
      status: 200,
      durationMs: expect.any(Number),
      identity: 'eyJhbG…xyz9',
      upstreamAttempts: 2,
      answerId: 'chatcmpl-first',
      msg: expect.stringMatching(/^POST \(no route\) 200 \d+ms$/),
    });
    expect(lines[1]).toEqual(expect.objectContaining({ reqId: 2, upstreamAttempts: 2 }));
    expect(lines[1]).not.toHaveProperty('identity');
    expect(JSON.stringify(lines)).not.toContain(token);
  });

  it("gives every line logged while serving a request that request's reqId, after awaits too, and lines outside none", async () => {
    const { lines, url, logger } = await serve('log', (_request, response, log) => {
      void (async () => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        log.warn('inside, after a timer');
        await Promise.resolve();
        log.info('inside, after a promise');
        response.end();
      })();
    });
    await send(url);
    await send(url);
    logger.info('outside');
    await linesOnceWritten(lines, 7);
    const byMessage = (msg: string) => lines.filter((line) => line.msg === msg).map((line) => line.reqId);
    expect(byMessage('inside, after a timer')).toEqual([1, 2]);
    expect(byMessage('inside, after a promise')).toEqual([1, 2]);
    expect(byMessage('outside')).toEqual([undefined]);
  });

  it('writes a warn line for a 5xx answer', async () => {
    const { lines, url } = await serve('log', (_request, response) => {
      response.statusCode = 502;
      response.end();
    });
    await send(url);
    await linesOnceWritten(lines, 1);
    expect(lines[0]).toEqual(expect.objectContaining({ level: 'warn', status: 502, error: 'failed with status code 502' }));
    expect(lines[0]).not.toHaveProperty('upstreamAttempts');
  });

  it('writes an info line, not a warning, when the client leaves before the answer is complete', async () => {
    const { lines, url } = await serve('log', (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write('data: first\n\n');
    });
    await send(url, { leaveEarly: true });
    await linesOnceWritten(lines, 1);
    expect(lines[0]).toEqual(
      expect.objectContaining({ level: 'info', status: 200, closedEarly: 'connection closed before the response was complete' }),
    );
    expect(lines[0]).not.toHaveProperty('error');
  });

  it('at LOG_LEVEL=warn, watches every request but writes only the failed ones', async () => {
    const { lines, url } = await serve('warn', (request, response) => {
      response.statusCode = request.headers.authorization ? 200 : 500;
      response.end();
    });
    await send(url, { authorization: 'Bearer fine' });
    await send(url);
    await linesOnceWritten(lines, 1);
    expect(lines).toEqual([expect.objectContaining({ level: 'warn', status: 500, reqId: 2 })]);
  });

  it('at LOG_LEVEL=error, adds no listener and tracks nothing', async () => {
    let added: number | undefined;
    let tracked: unknown;
    const { lines, url } = await serve('error', (request, response) => {
      added = response.listenerCount('close');
      tracked = requestFactsOf(request);
      response.end();
    });
    await send(url);
    expect(added).toBe(0);
    expect(tracked).toBeUndefined();
    expect(lines).toEqual([]);
  });
});
