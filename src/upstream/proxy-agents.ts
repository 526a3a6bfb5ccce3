import { Injectable, OnModuleDestroy } from '@nestjs/common';
import http from 'node:http';
import https from 'node:https';
import { HttpProxyAgent, HttpsProxyAgent } from 'hpagent';
import { SocksProxyAgent } from 'socks-proxy-agent';

export interface AgentPair {
  http: http.Agent;
  https: https.Agent;
}

// `timeout` bounds idle pooled sockets; with it set, Node also honours the server's `Keep-Alive: timeout=N`
// hint and drops a socket just before the server would, instead of reusing it into an ECONNRESET.
// Active requests keep got's own connect/idle timeouts.
const KEEP_ALIVE = { keepAlive: true, keepAliveMsecs: 15_000, maxSockets: 256, maxFreeSockets: 32, scheduling: 'lifo' as const, timeout: 60_000 };

/**
 * One keep-alive agent pair per route (direct, or one per proxy URL), created on first use and
 * reused so that connections to the upstream stay warm.
 */
@Injectable()
export class ProxyAgents implements OnModuleDestroy {
  private readonly agents = new Map<string, AgentPair>();

  for(proxyUrl?: string): AgentPair {
    const key = proxyUrl ?? '';
    let pair = this.agents.get(key);
    if (!pair) {
      pair = createAgents(proxyUrl);
      this.agents.set(key, pair);
    }
    return pair;
  }

  onModuleDestroy(): void {
    for (const pair of this.agents.values()) {
      pair.http.destroy();
      pair.https.destroy();
    }
    this.agents.clear();
  }
}

function createAgents(proxyUrl?: string): AgentPair {
  if (!proxyUrl) return { http: new http.Agent(KEEP_ALIVE), https: new https.Agent(KEEP_ALIVE) };
  if (proxyUrl.startsWith('socks')) {
    const agent = new SocksProxyAgent(proxyUrl, KEEP_ALIVE);
    return { http: agent, https: agent };
  }
  return {
    http: new HttpProxyAgent({ ...KEEP_ALIVE, proxy: proxyUrl }),
    https: new HttpsProxyAgent({ ...KEEP_ALIVE, proxy: proxyUrl }),
  };
}
