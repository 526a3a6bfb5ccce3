import type { Request } from 'express';
import { AppConfig } from '../config/app-config';
import { PublicOriginResolver } from './public-origin';

const requestFor = (host: string, protocol = 'http') => ({ host, protocol }) as unknown as Request;

function resolver(fields: Partial<AppConfig>): PublicOriginResolver {
  return new PublicOriginResolver(Object.assign(new AppConfig(), fields));
}

describe('PublicOriginResolver', () => {
  it('takes PUBLIC_URL over whatever the request says', () => {
    expect(resolver({ publicUrl: 'https://gw.example.com/' }).of(requestFor('evil.example'))).toEqual({
      origin: 'https://gw.example.com',
      scheme: 'https',
      host: 'gw.example.com',
      fromRequest: false,
    });
  });

  it('takes the request host only when ALLOWED_HOSTS lists it', () => {
    const allowed = resolver({ allowedHosts: ['gw.local:8080'] });
    expect(allowed.of(requestFor('GW.local:8080')).origin).toBe('http://GW.local:8080');
    expect(() => allowed.of(requestFor('evil.example'))).toThrow(/does not answer for that host/);
  });

  it('takes any host when no list is configured', () => {
    expect(resolver({}).of(requestFor('localhost:5005', 'https'))).toMatchObject({ origin: 'https://localhost:5005', fromRequest: true });
  });

  it('names where the chat page may be: PUBLIC_URL, or the allowed hosts, never a host the request named unchecked', () => {
    const configured = resolver({ publicUrl: 'https://gw.example.com/' });
    expect(configured.chatPageOrigins(configured.of(requestFor('sandbox.example.com')))).toEqual(['https://gw.example.com']);
    const allowed = resolver({ allowedHosts: ['gw.local:8080', 'sandbox.local:8080'] });
    expect(allowed.chatPageOrigins(allowed.of(requestFor('sandbox.local:8080', 'https')))).toEqual([
      'https://gw.local:8080',
      'https://sandbox.local:8080',
    ]);
    const open = resolver({});
    expect(open.chatPageOrigins(open.of(requestFor('evil.example')))).toEqual([]);
  });
});
