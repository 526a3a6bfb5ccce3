import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ProxyAgents } from './proxy-agents';

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
});
