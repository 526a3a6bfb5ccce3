import http from 'node:http';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { HttpProxyAgent, HttpsProxyAgent } from 'hpagent';
import { SocksProxyAgent } from 'socks-proxy-agent';
import { selfSignedCertificate } from '../../test/support/self-signed';
import { testConfig } from '../config/test-config';
import { poolLimits, ProxyAgents } from './proxy-agents';

describe('ProxyAgents', () => {
  it("drops idle keep-alive sockets before the server's announced timeout", async () => {
    const server = http.createServer((_request, response) => response.end('ok'));
    server.keepAliveTimeout = 2_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const agents = new ProxyAgents();
    try {
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
      // 2 s announced, minus Node's one-second safety buffer.
      expect(socket?.timeout).toBe(1_000);
    } finally {
      agents.onModuleDestroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

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
