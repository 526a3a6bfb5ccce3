import { Injectable, OnModuleDestroy, Optional } from '@nestjs/common';
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import tls from 'node:tls';
import { HttpProxyAgent, HttpsProxyAgent, type ProxyAgentRequestOptions } from 'hpagent';
import { StartProblem } from '../common/startup/start-problem';
import type { SocksProxyAgent } from 'socks-proxy-agent';
import { AppConfig } from '../config/app-config';
import { timeoutError } from './exchange';
import { Http2Sessions } from './http2-transport';
import type { UpstreamStep } from '../common/errors/api-error';

export interface AgentPair {
  http: http.Agent;
  https: https.Agent;
  /** HTTP/2 sessions (one multiplexed connection per origin), on direct routes when HTTP/2 is enabled. */
  http2?: Http2Sessions;
}

/**
 * Which pool a call uses. Answers stream for minutes and hold their connection all along; the short calls a new chat
 * needs first (sentinel, auth, models, files) must never wait behind them, so each kind has its own pool.
 */
export type UpstreamPool = 'short' | 'stream';

const STREAM_STEPS: ReadonlySet<UpstreamStep> = new Set<UpstreamStep>(['conversation', 'handoff', 'gateway', 'download', 'file_fetch']);

export function poolOf(step: UpstreamStep): UpstreamPool {
  return STREAM_STEPS.has(step) ? 'stream' : 'short';
}

/** How the pools are sized; from `UPSTREAM_MAX_SOCKETS` (0: no limit) and `UPSTREAM_MAX_FREE_SOCKETS`. */
export interface PoolLimits {
  maxSockets: number;
  maxFreeSockets: number;
  /**
   * Trusted CA certificates: Node's own, those of `NODE_EXTRA_CA_CERTS` and those of `UPSTREAM_CA_FILE` (a relay,
   * or an https:// proxy, with a private CA). A `ca` option replaces everything Node trusts by default, so the others are listed too:
   * public hosts (client file URLs, the auth server) and hosts trusted through Node's variable stay reachable.
   */
  ca?: string[];
  /**
   * Those certificates parsed once, for every https agent of every route (direct, HTTP proxy, SOCKS proxy): handed a
   * `ca` list instead, every new TLS connection parses it again (some 20 ms of CPU for Node's roots alone, blocking
   * the event loop).
   */
  secureContext?: tls.SecureContext;
  http2: boolean;
  /** `UPSTREAM_CONNECT_TIMEOUT_MS`, which bounds a proxy's handshake (CONNECT, SOCKS) too. */
  connectMs: number;
  /** `UPSTREAM_KEEPALIVE_TIMEOUT_MS`: how long a connection with no call on it is kept for the next one. */
  keepAliveMs: number;
}

const DEFAULTS = new AppConfig();
const DEFAULT_LIMITS: PoolLimits = {
  maxSockets: Infinity,
  maxFreeSockets: 256,
  http2: false,
  connectMs: DEFAULTS.upstreamConnectTimeoutMs,
  keepAliveMs: DEFAULTS.upstreamKeepAliveTimeoutMs,
};

/** `UPSTREAM_CA_FILE`'s certificates; a file that cannot be read stops the start with one line. */
function readCaFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new StartProblem(
      `UPSTREAM_CA_FILE=${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
}

/** From the configuration: the limits every pool of every route gets. */
export function poolLimits(config: AppConfig, env: NodeJS.ProcessEnv = process.env): PoolLimits {
  const ca = config.upstreamCaFile
    ? [...tls.rootCertificates, ...nodeExtraCaCertificates(env), readCaFile(config.upstreamCaFile)]
    : undefined;
  return {
    maxSockets: config.upstreamMaxSockets > 0 ? config.upstreamMaxSockets : Infinity,
    maxFreeSockets: config.upstreamMaxFreeSockets,
    ca,
    secureContext: ca ? tls.createSecureContext({ ca }) : undefined,
    // `auto` offers h2 by ALPN on https (an http URL stays HTTP/1.1 whatever this says).
    http2: config.upstreamHttp2 !== 'off',
    connectMs: config.upstreamConnectTimeoutMs,
    keepAliveMs: config.upstreamKeepAliveTimeoutMs,
  };
}

/**
 * The certificates of `NODE_EXTRA_CA_CERTS`, which Node adds to its defaults at start-up but does not list in
 * `tls.rootCertificates` (Node 20 has no API that does). An unreadable file is left out: Node has warned of it already.
 */
function nodeExtraCaCertificates(env: NodeJS.ProcessEnv): string[] {
  const file = env.NODE_EXTRA_CA_CERTS;
  if (!file) return [];
  try {
    return [readFileSync(file, 'utf8')];
  } catch {
    return [];
  }
}

/**
 * Keep-alive agents per route (direct, or one per proxy URL) and per pool, created on first use and reused so that
 * connections to the upstream stay warm. `timeout` bounds idle pooled sockets; with it set, Node also honours the
 * server's `Keep-Alive: timeout=N` hint and drops a socket just before the server would, instead of reusing it into
 * an ECONNRESET. Active requests keep the transports' own connect and idle timeouts.
 */
@Injectable()
export class ProxyAgents implements OnModuleDestroy {
  private readonly agents = new Map<string, AgentPair>();
  readonly limits: PoolLimits;

  constructor(@Optional() config?: AppConfig) {
    this.limits = config ? poolLimits(config) : DEFAULT_LIMITS;
  }

  for(proxyUrl?: string, pool: UpstreamPool = 'short'): AgentPair {
    const key = `${pool} ${proxyUrl ?? ''}`;
    let pair = this.agents.get(key);
    if (!pair) {
      pair = createAgents(this.limits, proxyUrl);
      this.agents.set(key, pair);
    }
    return pair;
  }

  onModuleDestroy(): void {
    for (const pair of this.agents.values()) {
      pair.http.destroy();
      pair.https.destroy();
      pair.http2?.close();
    }
    this.agents.clear();
  }
}

function createAgents(limits: PoolLimits, proxyUrl?: string): AgentPair {
  const keepAlive = {
    keepAlive: true,
    keepAliveMsecs: 15_000,
    maxSockets: limits.maxSockets,
    maxFreeSockets: limits.maxFreeSockets,
    scheduling: 'lifo' as const,
    timeout: limits.keepAliveMs,
  };
  const { secureContext } = limits;
  // The agent's options reach the TLS connection to the upstream, whichever way it leaves.
  const trust = secureContext ? { secureContext } : {};
  if (!proxyUrl) {
    return {
      http: untimedWhileConnecting(new http.Agent(keepAlive)),
      https: untimedWhileConnecting(new https.Agent({ ...keepAlive, ...trust })),
      http2: limits.http2 ? new Http2Sessions({ secureContext, idleMs: limits.keepAliveMs }) : undefined,
    };
  }
  const proxy = proxyEndpoint(new URL(proxyUrl));
  if (proxy.protocol.startsWith('socks')) {
    // Loaded with the first SOCKS proxy: it and its socks and ip-address helpers are a start-up cost most set-ups never use.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy synchronous load
    const { SocksProxyAgent: Agent } = require('socks-proxy-agent') as { SocksProxyAgent: typeof SocksProxyAgent };
    const agent = boundSocksHandshake(new Agent(proxy, { ...keepAlive, ...trust }), limits.connectMs);
    return { http: agent, https: agent };
  }
  // An https:// proxy's own TLS connection (the CONNECT request's) trusts the same certificates: a proxy under a private
  // CA. hpagent hands these options to `https.request`, which takes any TLS option; its type lists `ca` (parsed again on
  // every connection) but not the context parsed once.
  const proxyTrust = secureContext ? { proxyRequestOptions: { secureContext } as ProxyAgentRequestOptions } : {};
  return {
    http: boundConnectRequest(new HttpProxyAgent({ ...keepAlive, ...proxyTrust, proxy }), limits.connectMs),
    https: boundConnectRequest(new HttpsProxyAgent({ ...keepAlive, ...trust, ...proxyTrust, proxy }), limits.connectMs),
  };
}

/**
 * Node arms a new connection with the agent's `timeout`, the keep-alive time of pooled sockets, from its start: a name
 * lookup or a TCP connect that took longer failed as an idle timeout, short of the connect timeout. A new connection
 * is the call's to time (its connect deadline, then its idle timeout); the pool sets the keep-alive time on a socket
 * it takes back.
 */
function untimedWhileConnecting<A extends http.Agent>(agent: A): A {
  const createConnection = agent.createConnection.bind(agent);
  agent.createConnection = (options, callback) => createConnection({ ...options, timeout: undefined }, callback);
  return agent;
}

/**
 * hpagent bounds its CONNECT request by the agent's `timeout` (the idle time of pooled sockets) and fails it
 * with a bare "Proxy timeout", which reads as an unreachable upstream (502): a stalled proxy gets the connect
 * timeout instead, and fails as every other connect timeout does (504).
 */
function boundConnectRequest<A extends http.Agent>(agent: A, connectMs: number): A {
  const createConnection = agent.createConnection.bind(agent);
  agent.createConnection = (options, callback) =>
    createConnection({ ...options, timeout: connectMs }, (error, socket) =>
      callback?.(error?.message === 'Proxy timeout' ? timeoutError('connect', connectMs) : error, socket),
    );
  return agent;
}

/** The socks library's message for a handshake past its `timeout`. */
const SOCKS_TIMEOUT = 'Proxy connection timed out';

/**
 * The SOCKS handshake within the connect timeout. The library bounds its handshake by its `timeout`, the agent's
 * option (the pool's keep-alive time), then leaves that timer on the tunnel and destroys the tunnel once silent that
 * long, in use or not: an https answer pausing that long was cut short of the idle timeout (the pool and the call
 * time the TLS socket above the tunnel, never the tunnel). Here its `timeout` is the connect timeout, and comes off
 * the tunnel once made: the pool and the call time the socket they get as they time any other.
 *
 * The TLS connection through the tunnel is made here, as Node's https agent makes one: the library's leaves the
 * call's host out, and checks the certificate of an upstream named by its IP address (no SNI then) against `localhost`.
 */
function boundSocksHandshake(agent: SocksProxyAgent, connectMs: number): SocksProxyAgent {
  agent.timeout = connectMs;
  const connect = agent.connect.bind(agent);
  agent.connect = (request, options) => {
    const connecting = connect(request, { ...options, secureEndpoint: false });
    const tunnel = new Promise<net.Socket>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(timeoutError('connect', connectMs));
        // The library's attempt goes on until its own bound: what it makes then is nobody's.
        connecting.then(
          (socket) => socket.destroy(),
          () => undefined,
        );
      }, connectMs);
      // The library's bound may come first (set before this one when there is no name to look up).
      const failed = (error: Error) => reject(error.message === SOCKS_TIMEOUT ? timeoutError('connect', connectMs) : error);
      connecting.finally(() => clearTimeout(timer)).then(resolve, failed);
    });
    return tunnel.then((socket) => {
      // The library's listener is the only one yet: Node's agent adds its own once handed the socket.
      socket.setTimeout(0).removeAllListeners('timeout');
      return options.secureEndpoint ? tls.connect({ ...options, socket }) : socket;
    });
  };
  return agent;
}

/**
 * The proxy's URL as both proxy agents read it (`hostname`, `port`, `protocol`, the credentials, `href`), with an
 * IPv6 address unbracketed: `URL.hostname` keeps the brackets of `http://[::1]:3128`, and no resolver takes `[::1]`.
 */
function proxyEndpoint(url: URL): URL {
  const { href, protocol, hostname, port, username, password } = url;
  const endpoint = { href, protocol, hostname: hostname.replace(/^\[(.*)\]$/, '$1'), port, username, password };
  return endpoint as unknown as URL;
}
