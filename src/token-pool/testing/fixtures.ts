import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../common/vocabulary/clock';

/** An unsigned JWT AccessToken with the claims the pool reads. `exp` in milliseconds. */
export function fakeAccessToken(
  claims: { exp?: number; userId?: string; accountId?: string; email?: string; plan?: string; nonce?: string } = {},
): string {
  const payload = {
    ...(claims.exp !== undefined ? { exp: Math.floor(claims.exp / 1000) } : {}),
    'https://api.openai.com/profile': { email: claims.email ?? 'user@example.com' },
    'https://api.openai.com/auth': {
      ...(claims.userId ? { user_id: claims.userId } : {}),
      ...(claims.accountId ? { chatgpt_account_id: claims.accountId } : {}),
      chatgpt_plan_type: claims.plan ?? 'plus',
    },
    nonce: claims.nonce ?? Math.random().toString(36).slice(2),
  };
  return ['{"alg":"RS256","typ":"JWT"}', JSON.stringify(payload), 'signature']
    .map((part) => Buffer.from(part).toString('base64url'))
    .join('.');
}

/** A legacy 45-character RefreshToken. */
export function fakeRefreshToken(label: string): string {
  return `${label}${'x'.repeat(45)}`.slice(0, 45);
}

export interface AuthServerReply {
  status: number;
  body: unknown;
  delayMs?: number;
}

/**
 * The answers of an auth server that rotates: each RefreshToken works once and is answered with the next one
 * (`rt_next-1`, `rt_next-2`, …) and an AccessToken valid for an hour of `clock`, after `delayMs`; a spent one is
 * refused with `invalid_grant`.
 */
export function rotatingReplies(clock: Clock, delayMs = 0): (body: Record<string, unknown>) => AuthServerReply {
  let issued = 0;
  const spent = new Set<string>();
  return (body) => {
    const presented = body.refresh_token as string;
    if (spent.has(presented)) return { status: 403, body: { error: 'invalid_grant' } };
    spent.add(presented);
    issued += 1;
    const accessToken = fakeAccessToken({ exp: clock.now() + 3_600_000 });
    return { status: 200, body: { access_token: accessToken, refresh_token: `rt_next-${issued}` }, delayMs };
  };
}

export interface FakeAuthServer {
  url: string;
  requests: Record<string, unknown>[];
  close(): Promise<void>;
}

/** A local stand-in for `POST {AUTH_BASE_URL}/oauth/token`. */
export async function startFakeAuthServer(reply: (body: Record<string, unknown>) => AuthServerReply): Promise<FakeAuthServer> {
  const requests: Record<string, unknown>[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      requests.push({ path: req.url, ...body });
      const answer = reply(body);
      setTimeout(() => {
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
      }, answer.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
