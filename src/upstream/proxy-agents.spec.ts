import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { HttpProxyAgent, HttpsProxyAgent } from 'hpagent';
import { SocksProxyAgent } from 'socks-proxy-agent';
import { type SelfSigned, selfSignedCertificate } from '../../test/support/self-signed';
import { loadConfig } from '../config/load-config';
import { testConfig } from '../config/test-config';
import { readBody } from './exchange';
import { sendHttp1 } from './http1-transport';
import { poolLimits, ProxyAgents } from './proxy-agents';
import { transportFailure } from './upstream-failure';
import { UpstreamClient } from './upstream.client';
import { MetricsService } from '../metrics/metrics.service';

describe('ProxyAgents', () => {
  /** The socket one call to `server` leaves in the direct route's pool, once Node has set its idle time. */
  async function pooledAfterOneCall(server: http.Server, agents: ProxyAgents): Promise<net.Socket | undefined> {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, agent: agents.for().http }, (response) => {
          response.resume();
          response.on('end', resolve);
        })
        .on('error', reject);
    });
    const [socket] = Object.values(agents.for().http.freeSockets).flat();
    await new Promise((resolve) => setImmediate(resolve));
    return socket;
  }

  it("drops idle keep-alive sockets before the server's announced timeout", async () => {
    const server = http.createServer((_request, response) => response.end('ok'));
    server.keepAliveTimeout = 2_000;
    const agents = new ProxyAgents();
    try {
      // 2 s announced, minus Node's one-second safety buffer.
      expect((await pooledAfterOneCall(server, agents))?.timeout).toBe(1_000);
    } finally {
      agents.onModuleDestroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('keeps an idle pooled socket for UPSTREAM_KEEPALIVE_TIMEOUT_MS when the server announces no timeout', async () => {
    const server = http.createServer((_request, response) => response.end('ok'));
    server.keepAliveTimeout = 0;
    const agents = new ProxyAgents(testConfig({ upstreamKeepAliveTimeoutMs: 1_234 }));
    try {
      expect((await pooledAfterOneCall(server, agents))?.timeout).toBe(1_234);
      expect(poolLimits(testConfig({}), {}).keepAliveMs).toBe(60_000);
    } finally {
      agents.onModuleDestroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  // Node arms a new connection with the agent's `timeout`, the keep-alive time of pooled sockets, from its start: a
  // name lookup or TCP connect slower than that failed as an idle timeout, short of UPSTREAM_CONNECT_TIMEOUT_MS.
  it.each(['http', 'https'])(
    'gives a new direct %s connection UPSTREAM_CONNECT_TIMEOUT_MS, whatever the keep-alive time',
    async (scheme) => {
      const agents = new ProxyAgents(testConfig({ upstreamKeepAliveTimeoutMs: 100 }));
      try {
        const failure = await sendHttp1({
          url: `${scheme}://upstream.test/`,
          method: 'GET',
          headers: {},
          decompress: true,
          // A name lookup that never answers.
          dnsLookup: () => undefined,
          timeouts: { connectMs: 400, responseMs: 5_000, idleMs: 5_000 },
          agent: agents.for()[scheme === 'https' ? 'https' : 'http'],
        }).catch((error: Error) => error);
        expect(failure).toMatchObject({ code: 'ETIMEDOUT', message: "Timeout awaiting 'connect' for 400ms" });
      } finally {
        agents.onModuleDestroy();
      }
    },
  );

  it('routes through a SOCKS proxy with one agent for both schemes, and through an HTTP proxy with a pair', () => {
    const agents = new ProxyAgents();
    try {
      const socks = agents.for('socks5://127.0.0.1:1080');
      expect(socks.http).toBeInstanceOf(SocksProxyAgent);
      expect(socks.https).toBe(socks.http);
      const viaHttp = agents.for('http://127.0.0.1:3128');
      expect(viaHttp.http).toBeInstanceOf(HttpProxyAgent);
      expect(viaHttp.https).toBeInstanceOf(HttpsProxyAgent);
    } finally {
      agents.onModuleDestroy();
    }
  });

  // A scheme is case-insensitive (RFC 3986): SOCKS5:// was spoken to as an HTTP CONNECT proxy.
  it('reads the proxy scheme in any letter case', () => {
    const agents = new ProxyAgents();
    try {
      expect(agents.for('SOCKS5://user:pass@127.0.0.1:1080').http).toBeInstanceOf(SocksProxyAgent);
      expect(agents.for('Socks5h://127.0.0.1:1080').http).toBeInstanceOf(SocksProxyAgent);
      expect(agents.for('HTTP://127.0.0.1:3128').https).toBeInstanceOf(HttpsProxyAgent);
    } finally {
      agents.onModuleDestroy();
    }
  });

  it('trusts the certificates of UPSTREAM_CA_FILE in addition to Node’s own roots, not instead of them', () => {
    const certificate = selfSignedCertificate();
    try {
      const { ca } = poolLimits(testConfig({ upstreamCaFile: certificate.certFile }), {});
      expect(ca).toEqual([...tls.rootCertificates, certificate.cert.toString('utf8')]);
      expect(poolLimits(testConfig({}), {}).ca).toBeUndefined();
    } finally {
      certificate.remove();
    }
  });

  it('keeps trusting the certificates of NODE_EXTRA_CA_CERTS when UPSTREAM_CA_FILE is set, and skips an unreadable one', () => {
    const relay = selfSignedCertificate();
    const extra = selfSignedCertificate();
    try {
      const config = testConfig({ upstreamCaFile: relay.certFile });
      const { ca } = poolLimits(config, { NODE_EXTRA_CA_CERTS: extra.certFile });
      expect(ca).toEqual([...tls.rootCertificates, extra.cert.toString('utf8'), relay.cert.toString('utf8')]);
      const missing = poolLimits(config, { NODE_EXTRA_CA_CERTS: `${extra.certFile}.missing` }).ca;
      expect(missing).toEqual([...tls.rootCertificates, relay.cert.toString('utf8')]);
    } finally {
      relay.remove();
      extra.remove();
    }
  });
});

/** Joins a proxy's client to `host:port`, telling the client once connected; both ends are kept in `sockets`. */
function tunnel(sockets: Set<net.Socket>, client: net.Socket, host: string, port: number, onOpen: () => void, head?: Buffer): void {
  const upstream = net.connect(port, host, () => {
    onOpen();
    if (head?.length) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  sockets.add(client).add(upstream);
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
}

/** An HTTP proxy taking CONNECT to any `host:port`. */
function connectProxy(sockets: Set<net.Socket>): http.Server {
  const proxy = http.createServer();
  proxy.on('connect', (request: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const [host, port] = String(request.url).split(':');
    tunnel(sockets, client, host, Number(port), () => client.write('HTTP/1.1 200 Connection Established\r\n\r\n'), head);
  });
  return proxy;
}

/** An HTTPS proxy (TLS to the proxy itself) taking CONNECT to any `host:port`, under `certificate`. */
function tlsConnectProxy(sockets: Set<net.Socket>, certificate: SelfSigned): https.Server {
  const proxy = https.createServer({ key: certificate.key, cert: certificate.cert });
  proxy.on('connect', (request: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const [host, port] = String(request.url).split(':');
    tunnel(sockets, client, host, Number(port), () => client.write('HTTP/1.1 200 Connection Established\r\n\r\n'), head);
  });
  return proxy;
}

/** A minimal SOCKS5 server: no authentication, CONNECT to an IPv4 address or a name. */
function socks5Proxy(sockets: Set<net.Socket>): net.Server {
  return net.createServer((client) => {
    client.once('data', () => {
      client.write(Buffer.from([5, 0]));
      client.once('data', (request: Buffer) => {
        const byName = request[3] === 3;
        const host = byName ? request.subarray(5, 5 + request[4]).toString() : [...request.subarray(4, 8)].join('.');
        const portAt = byName ? 5 + request[4] : 8;
        const answer = Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        tunnel(sockets, client, host, request.readUInt16BE(portAt), () => client.write(answer));
      });
    });
  });
}

/** Calls through a proxy: a target server, and the proxies that reach it (each closed by its test). */
describe('ProxyAgents carrying calls', () => {
  let target: http.Server;
  let targetUrl: string;
  const sockets = new Set<net.Socket>();

  beforeAll(async () => {
    target = http.createServer((_request, response) => response.end('through the proxy'));
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}/`;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => target.close(resolve));
  });

  async function get(proxyUrl: string, agents = new ProxyAgents()): Promise<string> {
    try {
      const answer = await sendHttp1({
        url: targetUrl,
        method: 'GET',
        headers: {},
        decompress: true,
        timeouts: { connectMs: 2_000, responseMs: 2_000, idleMs: 2_000, totalMs: 5_000 },
        agent: agents.for(proxyUrl).http,
      });
      return (await readBody(answer.body)).toString();
    } finally {
      agents.onModuleDestroy();
    }
  }

  async function listening(server: net.Server, host: string): Promise<number> {
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    return (server.address() as AddressInfo).port;
  }

  // `URL.hostname` keeps an IPv6 address's brackets, and `getaddrinfo` does not take `[::1]` (ENOTFOUND).
  it('takes an IPv6 proxy address in PROXY_URL and reaches an HTTP proxy listening on it', async () => {
    expect(loadConfig({ PROXY_URL: 'http://[::1]:3128,socks5://u:p@[::1]:1080' }).proxyUrl).toHaveLength(2);
    const proxy = connectProxy(sockets);
    try {
      await expect(get(`http://[::1]:${await listening(proxy, '::1')}`)).resolves.toBe('through the proxy');
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('reaches a SOCKS5 proxy listening on an IPv6 address', async () => {
    const proxy = socks5Proxy(sockets);
    try {
      await expect(get(`socks5://[::1]:${await listening(proxy, '::1')}`)).resolves.toBe('through the proxy');
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  // The library's own TLS connection through the tunnel left the call's host out, and Node then checked the
  // certificate against `localhost`: "Host: localhost. is not cert's CN: 127.0.0.1".
  it('reaches an https upstream named by its IP address through a SOCKS5 proxy, checking its certificate for that address', async () => {
    const certificate = selfSignedCertificate();
    const secure = https.createServer({ key: certificate.key, cert: certificate.cert }, (_request, response) => response.end('over TLS'));
    const proxy = socks5Proxy(sockets);
    const agents = new ProxyAgents(testConfig({ upstreamCaFile: certificate.certFile }));
    try {
      const answer = await sendHttp1({
        url: `https://127.0.0.1:${await listening(secure, '127.0.0.1')}/`,
        method: 'GET',
        headers: {},
        decompress: true,
        timeouts: { connectMs: 2_000, responseMs: 2_000, idleMs: 2_000 },
        agent: agents.for(`socks5://127.0.0.1:${await listening(proxy, '127.0.0.1')}`).https,
      });
      expect((await readBody(answer.body)).toString()).toBe('over TLS');
    } finally {
      agents.onModuleDestroy();
      for (const server of [secure, proxy]) await new Promise((resolve) => server.close(resolve));
      certificate.remove();
    }
  });

  // The proxy's own TLS connection was made with Node's default roots only: a proxy under a private CA failed with
  // "self-signed certificate" whatever UPSTREAM_CA_FILE said.
  it.each(['http', 'https'])(
    'reaches an %s upstream through an https:// proxy whose certificate UPSTREAM_CA_FILE holds',
    async (scheme) => {
      const certificate = selfSignedCertificate();
      const proxy = tlsConnectProxy(sockets, certificate);
      const secure = https.createServer({ key: certificate.key, cert: certificate.cert }, (_request, response) =>
        response.end('through the proxy'),
      );
      const agents = new ProxyAgents(testConfig({ upstreamCaFile: certificate.certFile }));
      try {
        const proxyUrl = `https://127.0.0.1:${await listening(proxy, '127.0.0.1')}`;
        const url = scheme === 'https' ? `https://127.0.0.1:${await listening(secure, '127.0.0.1')}/` : targetUrl;
        const answer = await sendHttp1({
          url,
          method: 'GET',
          headers: {},
          decompress: true,
          timeouts: { connectMs: 2_000, responseMs: 2_000, idleMs: 2_000 },
          agent: agents.for(proxyUrl)[scheme === 'https' ? 'https' : 'http'],
        });
        expect((await readBody(answer.body)).toString()).toBe('through the proxy');
      } finally {
        agents.onModuleDestroy();
        for (const server of [secure, proxy]) if (server.listening) await new Promise((resolve) => server.close(resolve));
        certificate.remove();
      }
    },
  );

  // Handed the `ca` list, Node parsed Node's roots and the file's certificates again for every new TLS connection.
  it.each([
    ['an HTTP proxy', connectProxy],
    ['a SOCKS5 proxy', socks5Proxy],
  ])('parses the certificates of UPSTREAM_CA_FILE once, not on every new TLS connection through %s', async (_case, proxyOf) => {
    const certificate = selfSignedCertificate();
    const secure = https.createServer({ key: certificate.key, cert: certificate.cert }, (_request, response) => response.end('over TLS'));
    const proxy = proxyOf(sockets);
    const config = testConfig({ upstreamCaFile: certificate.certFile });
    const agents = new ProxyAgents(config);
    const parsed = jest.spyOn(tls, 'createSecureContext');
    try {
      const url = `https://127.0.0.1:${await listening(secure, '127.0.0.1')}/`;
      const proxyUrl = `${proxyOf === socks5Proxy ? 'socks5' : 'http'}://127.0.0.1:${await listening(proxy, '127.0.0.1')}`;
      const timeouts = { connectMs: 2_000, responseMs: 2_000, idleMs: 2_000 };
      const client = new UpstreamClient(config, agents, new MetricsService());
      // At once, so that each call opens a connection of its own; the one that follows redirects (got) too.
      const answers = await Promise.all([
        ...[1, 2, 3].map(async () => {
          const answer = await sendHttp1({
            url,
            method: 'GET',
            headers: {},
            decompress: true,
            timeouts,
            agent: agents.for(proxyUrl).https,
          });
          return (await readBody(answer.body)).toString();
        }),
        client.request({ url, proxyUrl, followRedirects: true, step: 'refresh' }).then((answer) => answer.body.toString()),
      ]);
      expect(answers).toEqual(['over TLS', 'over TLS', 'over TLS', 'over TLS']);
      expect(parsed).not.toHaveBeenCalled();
    } finally {
      parsed.mockRestore();
      agents.onModuleDestroy();
      for (const server of [secure, proxy]) await new Promise((resolve) => server.close(resolve));
      certificate.remove();
    }
  });

  // A proxy that takes the connection and never answers: the agent's own bound was the pooled sockets' 60 s, and its
  // "Proxy timeout" (no code) read as an unreachable upstream, 502, where a connect timeout is a 504.
  // The keep-alive time of pooled sockets, shorter here, was the SOCKS library's bound too: "Proxy connection timed out".
  it.each([
    ['an HTTP proxy never answering CONNECT', 'http'],
    ['a SOCKS5 proxy never answering its greeting', 'socks5'],
    ['a SOCKS5 proxy resolving names, never answering its greeting', 'socks5h'],
  ])('gives %s UPSTREAM_CONNECT_TIMEOUT_MS, and fails as a connect timeout', async (_case, scheme) => {
    const held = new Set<net.Socket>();
    const stalled = net.createServer((client) => held.add(client.resume()));
    try {
      const agents = new ProxyAgents(testConfig({ upstreamConnectTimeoutMs: 200, upstreamKeepAliveTimeoutMs: 100 }));
      const failure = await get(`${scheme}://127.0.0.1:${await listening(stalled, '127.0.0.1')}`, agents).catch((error: Error) => error);
      expect(failure).toMatchObject({ code: 'ETIMEDOUT', message: "Timeout awaiting 'connect' for 200ms" });
      expect(transportFailure(failure, 'conversation')).toMatchObject({ kind: 'timeout' });
    } finally {
      for (const client of held) client.destroy();
      await new Promise((resolve) => stalled.close(resolve));
    }
  });

  /**
   * `UPSTREAM_KEEPALIVE_TIMEOUT_MS` is for connections with no call on them, and `UPSTREAM_CONNECT_TIMEOUT_MS` for
   * making one. An answer that pauses longer than both (a model thinking before its next token) is governed by
   * `UPSTREAM_IDLE_TIMEOUT_MS` alone, on every kind of route; through a SOCKS proxy, an https answer was cut ("aborted").
   */
  describe('an answer pausing longer than UPSTREAM_KEEPALIVE_TIMEOUT_MS', () => {
    const KEEP_ALIVE_MS = 200;
    const CONNECT_MS = 500;
    const pauses = new Set<NodeJS.Timeout>();
    const urls: Record<string, string> = {};
    let certificate: SelfSigned;
    let servers: net.Server[];

    type PausingAnswer = { writeHead(status: number): unknown; write(chunk: string): unknown; end(chunk: string): unknown };

    /** Answers at once, then pauses longer than the keep-alive and connect timeouts before the rest. */
    function pausing(_request: unknown, response: PausingAnswer): void {
      response.writeHead(200);
      response.write('thinking…');
      pauses.add(setTimeout(() => response.end(' answered'), 2 * CONNECT_MS));
    }

    beforeAll(async () => {
      certificate = selfSignedCertificate();
      // HTTP/1.1 for the https agents, h2 for the HTTP/2 sessions.
      const secure = http2.createSecureServer({ key: certificate.key, cert: certificate.cert, allowHTTP1: true }, pausing);
      const plain = http.createServer(pausing);
      const viaHttp = connectProxy(sockets);
      const viaSocks = socks5Proxy(sockets);
      servers = [plain, secure, viaHttp, viaSocks];
      urls.http = `http://127.0.0.1:${await listening(plain, '127.0.0.1')}/`;
      urls.https = `https://127.0.0.1:${await listening(secure, '127.0.0.1')}/`;
      urls['through an HTTP proxy'] = `http://127.0.0.1:${await listening(viaHttp, '127.0.0.1')}`;
      urls['through a SOCKS5 proxy'] = `socks5://127.0.0.1:${await listening(viaSocks, '127.0.0.1')}`;
    });
    afterAll(async () => {
      for (const pause of pauses) clearTimeout(pause);
      for (const socket of sockets) socket.destroy();
      for (const server of servers) await new Promise((resolve) => server.close(resolve));
      certificate.remove();
    });

    it.each([
      ['http', 'directly', 'HTTP/1.1'],
      ['https', 'directly', 'HTTP/1.1'],
      ['https', 'directly', 'HTTP/2'],
      ['http', 'through an HTTP proxy', 'HTTP/1.1'],
      ['https', 'through an HTTP proxy', 'HTTP/1.1'],
      ['http', 'through a SOCKS5 proxy', 'HTTP/1.1'],
      ['https', 'through a SOCKS5 proxy', 'HTTP/1.1'],
    ])('gets an %s answer %s over %s whole', async (scheme, route, protocol) => {
      const agents = new ProxyAgents(
        testConfig({
          upstreamKeepAliveTimeoutMs: KEEP_ALIVE_MS,
          upstreamConnectTimeoutMs: CONNECT_MS,
          upstreamCaFile: certificate.certFile,
        }),
      );
      try {
        const pair = agents.for(urls[route], 'stream');
        const exchange = {
          url: urls[scheme],
          method: 'GET',
          headers: {},
          decompress: true,
          timeouts: { connectMs: 5_000, responseMs: 5_000, idleMs: 30_000 },
        };
        const answer =
          protocol === 'HTTP/2'
            ? await pair.http2!.send(exchange, pair.https)
            : await sendHttp1({ ...exchange, agent: scheme === 'https' ? pair.https : pair.http });
        expect((await readBody(answer.body)).toString()).toBe('thinking… answered');
      } finally {
        agents.onModuleDestroy();
      }
    });

    it.each(['http', 'https'])('still closes a SOCKS5 connection left idle in the pool after an %s answer', async (scheme) => {
      const agents = new ProxyAgents(testConfig({ upstreamKeepAliveTimeoutMs: KEEP_ALIVE_MS, upstreamCaFile: certificate.certFile }));
      try {
        const agent = agents.for(urls['through a SOCKS5 proxy'], 'stream')[scheme === 'https' ? 'https' : 'http'];
        const timeouts = { connectMs: 5_000, responseMs: 5_000, idleMs: 30_000 };
        const answer = await sendHttp1({ url: urls[scheme], method: 'GET', headers: {}, decompress: true, timeouts, agent });
        await readBody(answer.body);
        await new Promise((resolve) => setImmediate(resolve));
        const [pooled] = Object.values(agent.freeSockets).flat();
        expect(pooled).toBeInstanceOf(net.Socket);
        await new Promise((resolve) => pooled!.once('close', resolve));
      } finally {
        agents.onModuleDestroy();
      }
    });
  });
});

// A proxy that answers CONNECT 200 and then carries nothing (a dead tunnel): the TLS handshake behind it is part of
// the connect deadline, as a direct https call's is, instead of waiting for the idle timeout twice as 'socket'.
describe('ProxyAgents: the TLS handshake through a proxy', () => {
  const sockets = new Set<net.Socket>();
  const proxies: Record<string, net.Server> = {};
  let mute: net.Server;
  beforeAll(async () => {
    mute = net.createServer((s) => sockets.add(s.resume()));
    proxies.http = connectProxy(sockets);
    proxies.socks5 = socks5Proxy(sockets);
    for (const s of [mute, proxies.http, proxies.socks5]) await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    for (const s of [mute, proxies.http, proxies.socks5]) await new Promise((r) => s.close(r));
  });

  it.each([
    ['an HTTP proxy', 'http'],
    ['a SOCKS5 proxy', 'socks5'],
  ])('fails a stalled TLS handshake behind %s within UPSTREAM_CONNECT_TIMEOUT_MS', async (_case, scheme) => {
    const agents = new ProxyAgents(testConfig({ upstreamConnectTimeoutMs: 300 }));
    try {
      const pair = agents.for(`${scheme}://127.0.0.1:${(proxies[scheme].address() as AddressInfo).port}`);
      const failure = await sendHttp1({
        url: `https://127.0.0.1:${(mute.address() as AddressInfo).port}/`,
        method: 'GET',
        headers: {},
        decompress: true,
        timeouts: { connectMs: 300, responseMs: 3_000, idleMs: 3_000 },
        agent: pair.https,
      }).catch((e: Error) => e);
      expect(failure).toMatchObject({ code: 'ETIMEDOUT', message: "Timeout awaiting 'connect' for 300ms" });
    } finally {
      agents.onModuleDestroy();
    }
  });
});
