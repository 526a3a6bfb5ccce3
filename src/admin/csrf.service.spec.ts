import type { Request } from 'express';
import { ApiError } from '../common/errors/api-error';
import { AppConfig } from '../config/app-config';
import type { AdminSession } from './admin-session.store';
import { CsrfService } from './csrf.service';

function requestWith(headers: Record<string, string>, host = 'gateway.local:5005'): Request {
  const all: Record<string, string> = { host, ...headers };
  return { host, get: (name: string) => all[name.toLowerCase()] } as unknown as Request;
}

function refusal(action: () => void): string | null {
  try {
    action();
    return null;
  } catch (error) {
    return (error as ApiError).body.error.code;
  }
}

describe('CsrfService', () => {
  const csrf = new CsrfService(Object.assign(new AppConfig(), { publicUrl: 'https://chat.example.com' }));

  it.each([
    [{}, null],
    [{ origin: 'http://gateway.local:5005' }, null],
    [{ origin: 'https://gateway.local:5005' }, null],
    [{ origin: 'https://chat.example.com' }, null],
    [{ referer: 'http://gateway.local:5005/admin' }, null],
    [{ origin: 'https://evil.example' }, 'cross_site_request'],
    [{ origin: 'http://gateway.local:5006' }, 'cross_site_request'],
    [{ origin: 'null' }, 'cross_site_request'],
    [{ referer: 'https://evil.example/admin' }, 'cross_site_request'],
    [{ referer: 'not a url' }, 'cross_site_request'],
    [{ origin: 'https://evil.example', referer: 'http://gateway.local:5005/admin' }, 'cross_site_request'],
  ])('Origin/Referer %j → %s', (headers, expected) => {
    expect(refusal(() => csrf.assertSameOrigin(requestWith(headers)))).toBe(expected);
  });

  it('compares the token with the session’s', () => {
    const session: AdminSession = { id: 'id', csrfToken: 'token-1234567890', expiresAt: 0, secret: 'fingerprint' };
    expect(refusal(() => csrf.assertToken(session, 'token-1234567890'))).toBeNull();
    for (const given of [undefined, '', 'token-123456789', ['token-1234567890']]) {
      expect(refusal(() => csrf.assertToken(session, given))).toBe('invalid_csrf_token');
    }
  });

  it('with ALLOWED_HOSTS, takes only those hosts (or PUBLIC_URL’s) for this site', () => {
    const strict = new CsrfService(
      Object.assign(new AppConfig(), { publicUrl: 'https://chat.example.com', allowedHosts: ['Gateway.local:5005'] }),
    );
    expect(refusal(() => strict.assertSameOrigin(requestWith({ origin: 'http://gateway.local:5005' })))).toBeNull();
    expect(refusal(() => strict.assertSameOrigin(requestWith({ origin: 'https://chat.example.com' }, 'internal:5005')))).toBeNull();
    // A rebound name: Host and Origin agree, but the host is not ours.
    expect(refusal(() => strict.assertSameOrigin(requestWith({ origin: 'http://rebound.evil:5005' }, 'rebound.evil:5005')))).toBe(
      'cross_site_request',
    );
  });
});
