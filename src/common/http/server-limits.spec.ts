import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { applyServerLimits } from './server-limits';

describe('applyServerLimits', () => {
  // Node's server compares HEADERS_TIMEOUT_MS and REQUEST_TIMEOUT_MS with the connection's age every
  // connectionsCheckingInterval: no timer gets them, so values past 2^31-1 ms mean what they say.
  it('does not cut a slow request at once under a request timeout past the longest delay a timer takes', async () => {
    const server = http.createServer({ connectionsCheckingInterval: 50 }, (request, response) => {
      request.resume();
      request.on('end', () => response.end('whole'));
    });
    applyServerLimits(server, {
      maxConnections: 10,
      headersTimeoutMs: 2_500_000_000,
      requestTimeoutMs: 3_000_000_000,
      httpKeepAliveTimeoutMs: 5_000,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk.toString()));
      socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\nab');
      await new Promise((resolve) => setTimeout(resolve, 400));
      socket.end('cd');
      await new Promise((resolve) => socket.on('close', resolve));
      expect(answer).toMatch(/^HTTP\/1.1 200[\s\S]*whole$/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
