import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { createControllerApp } from '../common/testing/controller-app';
import { Clock } from '../common/vocabulary/clock';
import { FakeClock } from '../token-pool/testing/fake-clock';
import { AdminAuthService } from './admin-auth.service';
import { AdminEntryController } from './admin-entry.controller';
import { AdminSecret } from './admin-secret.service';
import { ADMIN_ENTRY_COOKIE, ADMIN_ENTRY_PATH, AdminSessionStore } from './admin-session.store';
import { AdminSigningKey } from './admin-signing-key';
import { LoginThrottle } from './login-throttle.service';

const API_PREFIX = 'prefix-for-entry-spec';

function entryCookieOf(response: request.Response): string | undefined {
  return ([] as string[]).concat(response.headers['set-cookie'] ?? []).find((line) => line.startsWith(`${ADMIN_ENTRY_COOKIE}=`));
}
const GUESSES_BEFORE_LOCK = 20;

describe('AdminEntryController (HTTP edge)', () => {
  function appWith(env: Record<string, string>): Promise<NestExpressApplication> {
    return createControllerApp(
      {
        controllers: [AdminEntryController],
        providers: [
          { provide: Clock, useValue: new FakeClock() },
          AdminSecret,
          LoginThrottle,
          AdminSigningKey,
          AdminSessionStore,
          AdminAuthService,
        ],
      },
      env,
    );
  }

  let app: NestExpressApplication;
  afterEach(() => app.close());

  const notFound = (path: string) => ({
    error: { message: `Unknown request URL: GET ${path}.`, type: 'invalid_request_error', param: null, code: 'unknown_url' },
  });

  describe('when API_PREFIX is the admin secret', () => {
    beforeEach(async () => {
      app = await appWith({ API_PREFIX });
    });

    it('signs in at /{API_PREFIX}: a live session in a handover cookie for /admin/enter, where it redirects', async () => {
      const response = await request(app.getHttpServer()).get(`/${API_PREFIX}`).expect(303);
      // Under /admin, where the browser also sends the session cookie it held, so that session can end.
      expect(response.headers.location).toBe(ADMIN_ENTRY_PATH);
      const cookie = entryCookieOf(response);
      expect(cookie).toMatch(/; Path=\/admin\/enter/);
      expect(cookie).toMatch(/; HttpOnly/);
      expect(cookie).toMatch(/; SameSite=Lax/);
      expect(cookie).not.toContain(API_PREFIX);
      expect(await app.get(AdminSessionStore).fromCookie(decodeURIComponent(cookie!.split(';')[0].split('=')[1]))).not.toBeNull();
    });

    it('marks the handover cookie Secure once PUBLIC_URL is https', async () => {
      await app.close();
      app = await appWith({ API_PREFIX, PUBLIC_URL: 'https://gw.example.test' });
      const response = await request(app.getHttpServer()).get(`/${API_PREFIX}`).set('Host', 'gw.example.test').expect(303);
      expect(entryCookieOf(response)).toMatch(/; Secure/);
    });

    it('leaves Secure off for an admin on plain http at another address (a LAN IP), whose browser would drop a Secure cookie', async () => {
      await app.close();
      app = await appWith({ API_PREFIX, PUBLIC_URL: 'https://gw.example.test' });
      const response = await request(app.getHttpServer()).get(`/${API_PREFIX}`).set('Host', '192.168.1.20:3000').expect(303);
      const cookie = entryCookieOf(response);
      expect(cookie).toBeDefined();
      expect(cookie).not.toMatch(/; Secure/);
    });

    it('passes any other single segment on: 404 in the OpenAI shape, no cookie', async () => {
      const response = await request(app.getHttpServer()).get('/not-the-prefix').expect(404);
      expect(response.body).toEqual(notFound('/not-the-prefix'));
      expect(response.headers['set-cookie']).toBeUndefined();
    });

    it('stops signing in from an address that has guessed too often, even with the right secret', async () => {
      for (let guess = 0; guess < GUESSES_BEFORE_LOCK; guess++) await request(app.getHttpServer()).get(`/wrong-guess-${guess}`).expect(404);
      const response = await request(app.getHttpServer()).get(`/${API_PREFIX}`).expect(404);
      expect(response.body).toEqual(notFound(`/${API_PREFIX}`));
      expect(response.headers['set-cookie']).toBeUndefined();
    });

    it('does not count our own routes (/healthz, /files, /api …) as guesses', async () => {
      for (let guess = 0; guess < GUESSES_BEFORE_LOCK; guess++) {
        for (const route of ['healthz', 'files', 'api', 'auth']) await request(app.getHttpServer()).get(`/${route}`).expect(404);
      }
      await request(app.getHttpServer()).get(`/${API_PREFIX}`).expect(303);
    });

    it('does not count file names such as /favicon.ico as guesses', async () => {
      for (let guess = 0; guess < GUESSES_BEFORE_LOCK; guess++) await request(app.getHttpServer()).get(`/file-${guess}.ico`).expect(404);
      await request(app.getHttpServer()).get(`/${API_PREFIX}`).expect(303);
    });
  });

  it('never signs in at /{API_PREFIX} when ADMIN_KEY is the admin secret', async () => {
    app = await appWith({ API_PREFIX, ADMIN_KEY: 'admin-key-for-entry-spec' });
    const response = await request(app.getHttpServer()).get(`/${API_PREFIX}`).expect(404);
    expect(response.body).toEqual(notFound(`/${API_PREFIX}`));
    expect(response.headers['set-cookie']).toBeUndefined();
  });

  it('counts wrong dotted guesses when the prefix has a dot, so that such a prefix cannot be guessed without limit (found in review)', async () => {
    app = await appWith({ API_PREFIX: 'team.gpt-2024' });
    for (let i = 0; i < GUESSES_BEFORE_LOCK; i++)
      await request(app.getHttpServer())
        .get(`/team.gpt-${1900 + i}`)
        .expect(404);
    expect((await request(app.getHttpServer()).get('/team.gpt-2024')).status).toBe(404);
  });
});
