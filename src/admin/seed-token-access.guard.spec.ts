import type { ExecutionContext } from '@nestjs/common';
import { ApiError } from '../common/errors/api-error';
import type { AppConfig } from '../config/app-config';
import type { AdminAuthService, SecretCheck } from './admin-auth.service';
import type { AdminSecret } from './admin-secret.service';
import { SeedTokenAccessGuard } from './seed-token-access.guard';
import { SeedTokenError } from './seed-token.errors';

const SECRET = 'the-admin-secret';

function contextFor(authorization?: string): ExecutionContext {
  const request = {
    method: 'GET',
    path: '/seedtoken',
    ip: '203.0.113.7',
    socket: {},
    get: (name: string) => (name.toLowerCase() === 'authorization' ? authorization : undefined),
  };
  return { switchToHttp: () => ({ getRequest: () => request }) } as unknown as ExecutionContext;
}

function guardWith(options: { gateway?: boolean; secret?: boolean; check?: (given: string | undefined) => SecretCheck } = {}) {
  const given: Array<string | undefined> = [];
  const auth = {
    checkSecret: (_address: string, secret: string | undefined): Promise<SecretCheck> => {
      given.push(secret);
      return Promise.resolve(options.check?.(secret) ?? (secret === SECRET ? { ok: true } : { ok: false, reason: 'wrong_secret' }));
    },
  } as unknown as AdminAuthService;
  const config = { enableGateway: options.gateway ?? true } as AppConfig;
  const secret = { enabled: options.secret ?? true } as AdminSecret;
  return { guard: new SeedTokenAccessGuard(config, secret, auth), given };
}

async function refusal(promise: Promise<unknown>): Promise<{ status: number; body: unknown; error: unknown }> {
  try {
    await promise;
  } catch (error) {
    const http = error as SeedTokenError;
    return { status: http.getStatus(), body: http.getResponse(), error };
  }
  throw new Error('the guard let the request through');
}

describe('SeedTokenAccessGuard', () => {
  it('lets the admin secret through, checked by the throttled constant-time check', async () => {
    const { guard, given } = guardWith();
    await expect(guard.canActivate(contextFor(`Bearer ${SECRET}`))).resolves.toBe(true);
    expect(given).toEqual([SECRET]);
  });

  it.each([undefined, '', 'Basic dXNlcjpwYXNz', 'Bearer', 'Bearer   ', SECRET])(
    'answers 403 Not authenticated for authorization %p, without checking a secret',
    async (header) => {
      const { guard, given } = guardWith();
      const { status, body, error } = await refusal(guard.canActivate(contextFor(header)));
      expect(error).toBeInstanceOf(SeedTokenError);
      expect([status, body]).toEqual([403, { detail: 'Not authenticated' }]);
      expect(given).toEqual([]);
    },
  );

  it('answers 401 Invalid authorization for a wrong secret', async () => {
    const { guard } = guardWith();
    const { status, body } = await refusal(guard.canActivate(contextFor('Bearer a-pool-key')));
    expect([status, body]).toEqual([401, { detail: 'Invalid authorization' }]);
  });

  it('answers 429 with Retry-After while the network is throttled', async () => {
    const { guard } = guardWith({ check: () => ({ ok: false, reason: 'throttled', retryAfterSec: 30 }) });
    const { status, error } = await refusal(guard.canActivate(contextFor(`Bearer ${SECRET}`)));
    expect(status).toBe(429);
    expect((error as ApiError).details.retryAfter).toBe(30);
  });

  it.each([
    ['the gateway is off', { gateway: false }],
    ['no admin secret is set', { secret: false }],
  ])('answers 404 like an unknown URL when %s, even to the right secret', async (_name, options) => {
    const { guard, given } = guardWith(options);
    const { status, error } = await refusal(guard.canActivate(contextFor(`Bearer ${SECRET}`)));
    expect(status).toBe(404);
    expect((error as ApiError).code).toBe('unknown_url');
    expect(given).toEqual([]);
  });
});
