import type { Server } from 'node:http';
import type { AppConfig } from '../../config/app-config';

export type ServerLimitSettings = Pick<AppConfig, 'maxConnections' | 'headersTimeoutMs' | 'requestTimeoutMs' | 'httpKeepAliveTimeoutMs'>;

/**
 * Bounds what idle or slow clients can hold (Node 20 semantics):
 * - `maxConnections`: sockets beyond it are closed on accept, so a flood cannot take every file descriptor;
 * - `headersTimeout`: a connection that has not sent complete headers in time (or sent nothing) gets 408;
 * - `requestTimeout`: time to *receive* the whole request; the answer, such as a long SSE stream, is not
 *   limited by it;
 * - `keepAliveTimeout`: how long an idle keep-alive connection waits for its next request.
 * Node checks the two request timeouts every `connectionsCheckingInterval` (30 s by default), so a cut comes
 * up to that much later than the configured value.
 */
export function applyServerLimits(server: Server, limits: ServerLimitSettings): void {
  server.maxConnections = limits.maxConnections;
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.httpKeepAliveTimeoutMs;
}
