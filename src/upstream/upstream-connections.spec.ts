import { getEventListeners } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import nodeTls from 'node:tls';
import { type SelfSigned, selfSignedCertificate } from '../../test/support/self-signed';
import type { AppConfig } from '../config/app-config';
import { testConfig } from '../config/test-config';
import { MetricsService } from '../metrics/metrics.service';
import { ProxyAgents } from './proxy-agents';
import { UpstreamClient } from './upstream.client';

jest.setTimeout(60_000);

function clientFor(overrides: Partial<AppConfig>): { client: UpstreamClient; agents: ProxyAgents } {
  const config = testConfig({
    upstreamConnectTimeoutMs: 10_000,
    upstreamIdleTimeoutMs: 60_000,
    userAgents: [],
    proxyUrl: [],
    ...overrides,
  });
  const agents = new ProxyAgents(config);
  return { client: new UpstreamClient(config, agents, new MetricsService()), agents };
}

async function readAll(body: Readable): Promise<string> {
  let text = '';
  for await (const chunk of body) text += String(chunk);
  return text;
}

/** Answers hold their body until `release()`; everything else answers at once. `versions`: the HTTP version of each request. */
function holdingHandler() {
  const held: (() => void)[] = [];
  const versions: string[] = [];
  let waiting: (() => void) | undefined;
  const handler = (request: http.IncomingMessage | http2.Http2ServerRequest, response: http.ServerResponse | http2.Http2ServerResponse) => {
    versions.push(request.httpVersion);
    if (!request.url?.includes('conversation')) {
      response.end('short');
      return;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    (response as http.ServerResponse).write('data: first\n\n');
    held.push(() => (response as http.ServerResponse).end('data: last\n\n'));
    waiting?.();
  };
  const heldCount = async (count: number) => {
    while (held.length < count) await new Promise<void>((resolve) => (waiting = resolve));
  };
  const release = () => held.splice(0).forEach((end) => end());
  return { handler, heldCount, release, versions };
}

describe('upstream connections', () => {
  describe('HTTP/2 to an https upstream that offers it', () => {
    let tls: SelfSigned;
    let server: http2.Http2SecureServer;
    let url: string;
    let tlsConnections = 0;
    let h2Sessions = 0;
    const answers = holdingHandler();

    beforeAll(async () => {
      tls = selfSignedCertificate();
      server = http2.createSecureServer({ key: tls.key, cert: tls.cert, allowHTTP1: true }, answers.handler);
      server.on('secureConnection', () => tlsConnections++);
      server.on('session', () => h2Sessions++);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      answers.release();
      await new Promise((resolve) => server.close(resolve));
      tls.remove();
    });
    beforeEach(() => {
      tlsConnections = 0;
      h2Sessions = 0;
      answers.versions.length = 0;
    });

    async function streamsAtOnce(client: UpstreamClient, count: number): Promise<{ texts: string[]; versions: string[] }> {
      const streams = await Promise.all(
        Array.from({ length: count }, () =>
          client.stream({ url: `${url}/backend-api/conversation`, method: 'POST', json: {}, step: 'conversation' }),
        ),
      );
      await answers.heldCount(count);
      answers.release();
      const texts = await Promise.all(streams.map((stream) => readAll(stream.body)));
      return { texts, versions: answers.versions.splice(0) };
    }

    it('carries many concurrent answers on one connection (UPSTREAM_HTTP2=auto)', async () => {
      const { client, agents } = clientFor({ upstreamCaFile: tls.certFile, upstreamHttp2: 'auto' });
      try {
        const { texts, versions } = await streamsAtOnce(client, 24);
        expect(texts.every((text) => text === 'data: first\n\ndata: last\n\n')).toBe(true);
        expect(new Set(versions)).toEqual(new Set(['2.0']));
        // The burst waits for the one connection being opened instead of racing it with more.
        expect(h2Sessions).toBe(1);
        expect(tlsConnections).toBe(1);
        const opened = tlsConnections;
        const again = await streamsAtOnce(client, 24);
        expect(new Set(again.versions)).toEqual(new Set(['2.0']));
        expect(tlsConnections).toBe(opened);
      } finally {
        agents.onModuleDestroy();
      }
    });

    it('opens a connection per concurrent answer over HTTP/1.1 (UPSTREAM_HTTP2=off)', async () => {
      const { client, agents } = clientFor({ upstreamCaFile: tls.certFile, upstreamHttp2: 'off' });
      try {
        const { texts, versions } = await streamsAtOnce(client, 8);
        expect(texts.every((text) => text === 'data: first\n\ndata: last\n\n')).toBe(true);
        expect(new Set(versions)).toEqual(new Set(['1.1']));
        expect(h2Sessions).toBe(0);
        expect(tlsConnections).toBe(8);
      } finally {
        agents.onModuleDestroy();
      }
    });

    it('falls back to HTTP/1.1 with keep-alive on an https upstream that offers only that (UPSTREAM_HTTP2=auto)', async () => {
      const h1 = https.createServer({ key: tls.key, cert: tls.cert }, (_request, response) => response.end('h1'));
      let connections = 0;
      h1.on('secureConnection', () => connections++);
      await new Promise<void>((resolve) => h1.listen(0, '127.0.0.1', resolve));
      const { client, agents } = clientFor({ upstreamCaFile: tls.certFile, upstreamHttp2: 'auto' });
      try {
        const h1Url = `https://127.0.0.1:${(h1.address() as AddressInfo).port}/backend-api/models`;
        for (let k = 0; k < 3; k++) {
          const answer = await client.request({ url: h1Url, step: 'models' });
          expect(answer.body.toString()).toBe('h1');
        }
        // The ALPN probe's connection, then at most one kept alive for the rest.
        expect(connections).toBeLessThanOrEqual(2);
      } finally {
        agents.onModuleDestroy();
        h1.closeAllConnections();
        await new Promise((resolve) => h1.close(resolve));
      }
    });

    it('parses the certificates of UPSTREAM_CA_FILE once, not on every new TLS connection', async () => {
      for (const upstreamHttp2 of ['off', 'auto'] as const) {
        const { client, agents } = clientFor({ upstreamCaFile: tls.certFile, upstreamHttp2 });
        const parsed = jest.spyOn(nodeTls, 'createSecureContext');
        try {
          const { texts } = await streamsAtOnce(client, 4);
          expect(texts.every((text) => text === 'data: first\n\ndata: last\n\n')).toBe(true);
          expect(tlsConnections).toBeGreaterThan(0);
          expect(parsed).not.toHaveBeenCalled();
        } finally {
          parsed.mockRestore();
          agents.onModuleDestroy();
        }
      }
    });

    it('refuses the self-signed upstream without UPSTREAM_CA_FILE', async () => {
      const { client, agents } = clientFor({ upstreamHttp2: 'auto' });
      try {
        await expect(client.request({ url: `${url}/backend-api/models`, step: 'models' })).rejects.toThrow();
      } finally {
        agents.onModuleDestroy();
      }
    });
  });

  describe('pools', () => {
    let server: http.Server;
    let url: string;
    const answers = holdingHandler();

    beforeAll(async () => {
      server = http.createServer(answers.handler);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      answers.release();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it('has no connection cap by default: 300 answers stream at once', async () => {
      const { client, agents } = clientFor({});
      try {
        const streams = await Promise.all(
          Array.from({ length: 300 }, () =>
            client.stream({ url: `${url}/backend-api/conversation`, method: 'POST', json: {}, step: 'conversation' }),
          ),
        );
        // Every request reached the server while all of them were still open.
        await answers.heldCount(300);
        answers.release();
        await Promise.all(streams.map((stream) => readAll(stream.body)));
      } finally {
        agents.onModuleDestroy();
      }
    });

    it('lets go of a streamed answer read to its end: its abort listener is removed and its connection reused', async () => {
      const plain = http.createServer((_request, response) => response.end('data: whole answer\n\n'));
      let connections = 0;
      plain.on('connection', () => connections++);
      await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
      const { client, agents } = clientFor({});
      try {
        for (let k = 0; k < 3; k++) {
          // As the conversation's attempts pass it: Node keeps such a signal, and all it reaches, while it has listeners.
          const signal = AbortSignal.any([new AbortController().signal]);
          const answer = await client.stream({
            url: `http://127.0.0.1:${(plain.address() as AddressInfo).port}/backend-api/conversation`,
            method: 'POST',
            json: {},
            signal,
            step: 'conversation',
          });
          expect(await readAll(answer.body)).toBe('data: whole answer\n\n');
          expect(getEventListeners(signal, 'abort')).toHaveLength(0);
        }
        expect(connections).toBe(1);
      } finally {
        agents.onModuleDestroy();
        plain.closeAllConnections();
        await new Promise((resolve) => plain.close(resolve));
      }
    });

    it('answers a short call while streamed answers fill their pool (UPSTREAM_MAX_SOCKETS=2)', async () => {
      const { client, agents } = clientFor({ upstreamMaxSockets: 2 });
      try {
        const streams = await Promise.all(
          [1, 2].map(() => client.stream({ url: `${url}/backend-api/conversation`, method: 'POST', json: {}, step: 'conversation' })),
        );
        await answers.heldCount(2);
        const short = await client.request({
          url: `${url}/backend-api/sentinel/chat-requirements`,
          method: 'POST',
          json: {},
          step: 'requirements',
        });
        expect(short.body.toString()).toBe('short');
        answers.release();
        await Promise.all(streams.map((stream) => readAll(stream.body)));
      } finally {
        agents.onModuleDestroy();
      }
    });
  });
});
