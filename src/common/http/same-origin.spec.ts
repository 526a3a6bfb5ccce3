import type { Request } from 'express';
import { reachedOverHttps } from './same-origin';

function requestWith(headers: Record<string, string>, host: string, secure = false): Request {
  const all: Record<string, string> = { host, ...headers };
  return { host, secure, get: (name: string) => all[name.toLowerCase()] } as unknown as Request;
}

describe('reachedOverHttps', () => {
  const behindTls = { publicUrl: 'https://gw.example.test', allowedHosts: [] };

  it.each([
    ['a request over TLS (or from a proxy in TRUSTED_PROXIES that says so)', requestWith({}, '127.0.0.1:3000', true), true],
    ['a request for PUBLIC_URL’s host, from a TLS proxy that keeps Host', requestWith({}, 'gw.example.test'), true],
    [
      'a form posted from a page on PUBLIC_URL, through a proxy that rewrites Host',
      requestWith({ origin: 'https://gw.example.test' }, '127.0.0.1:3000'),
      true,
    ],
    ['a navigation to a LAN address over plain http', requestWith({}, '192.168.1.20:3000'), false],
    [
      'a form posted from a page at a LAN address over plain http',
      requestWith({ origin: 'http://192.168.1.20:3000' }, '192.168.1.20:3000'),
      false,
    ],
    [
      'a link followed on a page at a LAN address over plain http',
      requestWith({ referer: 'http://192.168.1.20:3000/admin' }, '192.168.1.20:3000'),
      false,
    ],
  ])('with PUBLIC_URL https: %s', (_case, request, expected) => {
    expect(reachedOverHttps(request, behindTls)).toBe(expected);
  });

  it('takes the scheme only from an Origin that names this site: another site’s says nothing of how the browser reached us', () => {
    expect(reachedOverHttps(requestWith({ origin: 'http://evil.example' }, 'gw.example.test'), behindTls)).toBe(true);
    expect(reachedOverHttps(requestWith({ origin: 'https://evil.example' }, '192.168.1.20:3000'), behindTls)).toBe(false);
    expect(reachedOverHttps(requestWith({ origin: 'null' }, 'gw.example.test'), behindTls)).toBe(true);
  });

  it('without PUBLIC_URL, reads the request, or the scheme of a page of this site that sent it', () => {
    const site = { allowedHosts: [] };
    expect(reachedOverHttps(requestWith({}, 'gw.example.test'), site)).toBe(false);
    expect(reachedOverHttps(requestWith({}, 'gw.example.test', true), site)).toBe(true);
    expect(reachedOverHttps(requestWith({ origin: 'https://gw.example.test' }, 'gw.example.test'), site)).toBe(true);
  });
});
