import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

/** Headers of one HTTP/1.1 hop that HTTP/2 must not carry. */
const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);

export interface Http2Front {
  url: string;
  /** HTTP/2 sessions opened, and requests served by HTTP version. */
  counts: { sessions: number; http2Requests: number; http1Requests: number };
  close(): Promise<void>;
}

/**
 * An HTTPS server offering HTTP/2 by ALPN (and HTTP/1.1 to a client that offers only that), as chatgpt.com does,
 * relaying each request to `target` over HTTP/1.1 kept alive: the fake upstream behind TLS and h2, for the e2e tests
 * and the bench.
 */
export async function startHttp2Front(target: string, tls: { key: Buffer; cert: Buffer }): Promise<Http2Front> {
  const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 1024 });
  const counts = { sessions: 0, http2Requests: 0, http1Requests: 0 };
  const server = http2.createSecureServer(
    { key: tls.key, cert: tls.cert, allowHTTP1: true, settings: { maxConcurrentStreams: 1000 } },
    (request, response) => {
      if (request.httpVersionMajor === 2) counts.http2Requests++;
      else counts.http1Requests++;
      const headers: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(request.headers))
        if (!name.startsWith(':') && !HOP_HEADERS.has(name)) headers[name] = value;
      const outgoing = http.request(`${target}${request.url}`, { method: request.method, headers, agent }, (answer) => {
        const answerHeaders: http.OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(answer.headers)) if (!HOP_HEADERS.has(name)) answerHeaders[name] = value;
        response.writeHead(answer.statusCode ?? 502, answerHeaders);
        answer.pipe(response);
        // An upstream that dies mid-answer resets the stream (or the connection), as a server would.
        answer.once('close', () => {
          if (!answer.complete) response.destroy();
        });
      });
      outgoing.on('error', () => response.destroy());
      // A client that leaves mid-call leaves the relayed call too.
      response.once('close', () => {
        if (!response.writableFinished) outgoing.destroy();
      });
      request.pipe(outgoing);
    },
  );
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    counts.sessions++;
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts,
    close: async () => {
      for (const session of sessions) session.destroy();
      agent.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
