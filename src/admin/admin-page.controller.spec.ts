import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { createControllerApp } from '../common/testing/controller-app';
import { StoreUnavailableError } from '../common/errors/store-unavailable.error';
import { Clock } from '../common/vocabulary/clock';
import { FakeClock } from '../token-pool/testing/fake-clock';
import { AdminAuthGuard } from './admin-auth.guard';
import { AdminAuthService } from './admin-auth.service';
import { AdminDashboardService } from './admin-dashboard.service';
import { AdminPageController } from './admin-page.controller';
import { AdminPageFilter } from './admin-page.filter';
import { AdminSecret } from './admin-secret.service';
import { AdminSigningKey } from './admin-signing-key';
import { ADMIN_SESSION_COOKIE, AdminSessionStore } from './admin-session.store';
import { AdminViews } from './admin-views.service';
import { CsrfService } from './csrf.service';
import { sessionCookieFor } from './testing/session-cookie';
import { LoginThrottle } from './login-throttle.service';

const ADMIN_KEY = 'admin-key-for-page-spec';
const EMPTY_DASHBOARD = { counts: { total: 0, active: 0, rate_limited: 0, expired: 0, disabled: 0 }, accounts: [], seeds: [], now: 0 };

describe('AdminPageController (HTTP edge)', () => {
  const dashboard = { model: jest.fn(), upload: jest.fn(), clear: jest.fn() };

  /** Real guard, sessions, filter and templates; the dashboard's data is a fake. */
  function appWith(env: Record<string, string>): Promise<NestExpressApplication> {
    return createControllerApp(
      {
        controllers: [AdminPageController],
        providers: [
          { provide: Clock, useValue: new FakeClock() },
          AdminSecret,
          LoginThrottle,
          AdminSigningKey,
          AdminSessionStore,
          CsrfService,
          AdminAuthService,
          AdminAuthGuard,
          AdminViews,
          AdminPageFilter,
          { provide: AdminDashboardService, useValue: dashboard },
        ],
      },
      env,
    );
  }

  let app: NestExpressApplication;
  beforeEach(async () => {
    jest.resetAllMocks();
    dashboard.model.mockResolvedValue(EMPTY_DASHBOARD);
    app = await appWith({ ADMIN_KEY });
  });
  afterEach(() => app.close());

  const page = () => request(app.getHttpServer());
  async function signedIn(): Promise<{ cookie: string; csrfToken: string }> {
    const { session, cookieValue } = await app.get(AdminSessionStore).create();
    return { cookie: sessionCookieFor(cookieValue), csrfToken: session.csrfToken };
  }

  it.each([
    ['GET', '/admin'],
    ['POST', '/admin/tokens'],
    ['POST', '/admin/logout'],
  ])('redirects %s %s to the sign-in form without a session, doing nothing', async (method, path) => {
    const response = await (method === 'GET' ? page().get(path) : page().post(path).type('form').send({ tokens: 'x' })).expect(303);
    expect(response.headers.location).toBe(path === '/admin/tokens' ? '/admin/login?ended=1' : '/admin/login');
    expect(dashboard.model).not.toHaveBeenCalled();
    expect(dashboard.upload).not.toHaveBeenCalled();
  });

  // A session that ended (12 hours, a new admin secret) under an open dashboard: the next form went to the sign-in
  // page without a word, and the admin could take the upload or removal for done.
  it('says on the sign-in page that a form sent after the session ended was not applied', async () => {
    const refused = await page().post('/admin/tokens').type('form').send({ tokens: 'x' }).expect(303);
    const signIn = await page().get(refused.headers.location).set('Accept-Language', 'en').expect(200);
    expect(signIn.text).toContain('Your session has ended, so what you last sent was not applied: sign in, then send it again.');
    expect((await page().get('/admin/login').set('Accept-Language', 'en').expect(200)).text).not.toContain('session has ended');
    expect(dashboard.upload).not.toHaveBeenCalled();
  });

  it('redirects a forged session cookie to the sign-in form', async () => {
    const { cookie } = await signedIn();
    const response = await page()
      .get('/admin')
      .set('Cookie', `${cookie.slice(0, -2)}AA`)
      .expect(303);
    expect(response.headers.location).toBe('/admin/login');
  });

  it('shows the sign-in form as HTML with the admin page headers', async () => {
    const response = await page().get('/admin/login').expect(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['x-frame-options']).toBe('DENY');
    expect(response.text).toContain('<form');
  });

  it('answers a wrong secret with 401 and the form again, and the right one with a session cookie and a redirect', async () => {
    const wrong = await page().post('/admin/login').set('Accept-Language', 'en').type('form').send({ secret: 'not-the-key' }).expect(401);
    expect(wrong.text).toContain('Wrong admin secret.');
    const wrongInChinese = await page().post('/admin/login').set('Accept-Language', 'zh-CN').type('form').send({ secret: 'not-the-key' });
    expect(wrongInChinese.text).toContain('管理密钥错误。');
    expect(wrong.headers['set-cookie']).toBeUndefined();

    const right = await page().post('/admin/login').type('form').send({ secret: ADMIN_KEY }).expect(303);
    expect(right.headers.location).toBe('/admin');
    const cookie = ([] as string[]).concat(right.headers['set-cookie'] ?? []).find((line) => line.startsWith(`${ADMIN_SESSION_COOKIE}=`));
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).not.toContain(ADMIN_KEY);
    await page().get('/admin').set('Cookie', cookie!.split(';')[0]).expect(200);
  });

  it('ends the session the browser held when it signs in again, so a copy of the old cookie no longer works', async () => {
    const { cookie: old } = await signedIn();
    await page().get('/admin').set('Cookie', old).expect(200);
    const again = await page().post('/admin/login').set('Cookie', old).type('form').send({ secret: ADMIN_KEY }).expect(303);
    const fresh = ([] as string[]).concat(again.headers['set-cookie'] ?? []).find((line) => line.startsWith(`${ADMIN_SESSION_COOKIE}=`));
    expect(fresh).toBeDefined();
    await page().get('/admin').set('Cookie', fresh!.split(';')[0]).expect(200);
    expect((await page().get('/admin').set('Cookie', old).expect(303)).headers.location).toBe('/admin/login');
  });

  it('at /admin/enter without a live handover, sets no session and leaves the one the browser held', async () => {
    const { cookie } = await signedIn();
    const enter = await page().get('/admin/enter').set('Cookie', `${cookie}; flowgpt_admin_entry=s%3Aforged.value`).expect(303);
    expect(enter.headers.location).toBe('/admin');
    expect(([] as string[]).concat(enter.headers['set-cookie'] ?? []).some((line) => line.startsWith(`${ADMIN_SESSION_COOKIE}=`))).toBe(
      false,
    );
    await page().get('/admin').set('Cookie', cookie).expect(200);
  });

  it('keeps the session the browser held when the secret it signs in with again is wrong', async () => {
    const { cookie } = await signedIn();
    await page().post('/admin/login').set('Cookie', cookie).type('form').send({ secret: 'not-the-key' }).expect(401);
    await page().get('/admin').set('Cookie', cookie).expect(200);
  });

  it('marks the session cookie Secure, when set and when cleared, once PUBLIC_URL is https (TLS ends at a proxy not in TRUSTED_PROXIES)', async () => {
    const behindTls = await appWith({ ADMIN_KEY, PUBLIC_URL: 'https://gw.example.test' });
    try {
      const server = request(behindTls.getHttpServer());
      const cookieOf = (response: request.Response) =>
        ([] as string[]).concat(response.headers['set-cookie'] ?? []).find((line) => line.startsWith(`${ADMIN_SESSION_COOKIE}=`));
      // The proxy forwards the browser's Host; one that rewrites it still passes the browser's Origin on a form.
      const signIn = await server.post('/admin/login').set('Host', 'gw.example.test').type('form').send({ secret: ADMIN_KEY }).expect(303);
      expect(cookieOf(signIn)).toMatch(/; Secure/);
      const rewritten = await server
        .post('/admin/login')
        .set('Origin', 'https://gw.example.test')
        .type('form')
        .send({ secret: ADMIN_KEY })
        .expect(303);
      expect(cookieOf(rewritten)).toMatch(/; Secure/);

      const { session, cookieValue } = await behindTls.get(AdminSessionStore).create();
      const signOut = await server
        .post('/admin/logout')
        .set('Host', 'gw.example.test')
        .set('Cookie', sessionCookieFor(cookieValue))
        .type('form')
        .send({ _csrf: session.csrfToken })
        .expect(303);
      expect(cookieOf(signOut)).toMatch(/; Secure/);
    } finally {
      await behindTls.close();
    }
  });

  it('gives an admin on plain http at another address (a LAN IP) a cookie without Secure, one the browser keeps, though PUBLIC_URL is https', async () => {
    const behindTls = await appWith({ ADMIN_KEY, PUBLIC_URL: 'https://gw.example.test' });
    try {
      const server = request(behindTls.getHttpServer());
      const signIn = await server
        .post('/admin/login')
        .set('Host', '192.168.1.20:3000')
        .set('Origin', 'http://192.168.1.20:3000')
        .type('form')
        .send({ secret: ADMIN_KEY })
        .expect(303);
      const cookie = ([] as string[])
        .concat(signIn.headers['set-cookie'] ?? [])
        .find((line) => line.startsWith(`${ADMIN_SESSION_COOKIE}=`));
      expect(cookie).toBeDefined();
      expect(cookie).not.toMatch(/; Secure/);
      await server.get('/admin').set('Host', '192.168.1.20:3000').set('Cookie', cookie!.split(';')[0]).expect(200);
    } finally {
      await behindTls.close();
    }
  });

  it('shows the dashboard to a signed-in admin', async () => {
    const { cookie, csrfToken } = await signedIn();
    const response = await page().get('/admin').set('Cookie', cookie).expect(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.text).toContain(csrfToken);
    expect(dashboard.model).toHaveBeenCalledTimes(1);
  });

  it('refuses a form post without its CSRF token with an HTML page, or the JSON error to a JSON client', async () => {
    const { cookie, csrfToken } = await signedIn();
    const html = await page()
      .post('/admin/tokens/clear')
      .set('Cookie', cookie)
      .set('Accept', 'text/html')
      .type('form')
      .send({})
      .expect(403);
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    expect(html.text).toContain('Missing or wrong CSRF token');

    const json = await page()
      .post('/admin/tokens/clear')
      .set('Cookie', cookie)
      .set('Accept', 'application/json')
      .type('form')
      .send({})
      .expect(403);
    expect(json.body).toEqual({
      error: {
        message: 'Missing or wrong CSRF token: reload the page and try again.',
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_csrf_token',
      },
    });
    expect(dashboard.clear).not.toHaveBeenCalled();

    dashboard.clear.mockResolvedValue({ kind: 'success', text: 'Cleared.' });
    const done = await page().post('/admin/tokens/clear').set('Cookie', cookie).type('form').send({ _csrf: csrfToken }).expect(303);
    expect(done.headers.location).toBe('/admin');
    expect(dashboard.clear).toHaveBeenCalledTimes(1);
  });

  // The admin's browser got the API's JSON error for these: a page with the reason and a way back is what a person reads.
  it('answers a store that does not answer with an HTML page saying to try again shortly, and the JSON error to a JSON client', async () => {
    const { cookie, csrfToken } = await signedIn();
    const outage = new StoreUnavailableError('Redis at redis://***@cache:6379', new Error('Command timed out'));
    dashboard.model.mockRejectedValue(outage);
    const html = await page().get('/admin').set('Cookie', cookie).set('Accept', 'text/html').set('Accept-Language', 'en').expect(503);
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    expect(html.headers['retry-after']).toBe('5');
    expect(html.text).toContain('<h1>Try again shortly</h1>');
    expect(html.text).toContain('The account store (Redis at redis://***@cache:6379) is not answering; try again shortly.');
    expect(html.text).not.toContain('Command timed out');
    const json = await page().get('/admin').set('Cookie', cookie).set('Accept', 'application/json').expect(503);
    expect(json.body.error.code).toBe('store_unavailable');

    dashboard.clear.mockRejectedValue(outage);
    const form = await page()
      .post('/admin/tokens/clear')
      .set('Cookie', cookie)
      .set('Accept', 'text/html')
      .type('form')
      .send({ _csrf: csrfToken });
    expect(form.status).toBe(503);
    expect(form.headers['content-type']).toMatch(/^text\/html/);

    dashboard.model.mockRejectedValue(new Error('a bug, with details to keep to the log'));
    const bug = await page().get('/admin').set('Cookie', cookie).set('Accept', 'text/html').expect(500);
    expect(bug.text).not.toContain('details to keep to the log');
  });

  it('answers 404 in the OpenAI shape when no admin secret is configured', async () => {
    const disabled = await appWith({});
    try {
      const response = await request(disabled.getHttpServer()).get('/admin/login').expect(404);
      expect(response.body).toEqual({
        error: { message: 'Unknown request URL: GET /admin/login.', type: 'invalid_request_error', param: null, code: 'unknown_url' },
      });
    } finally {
      await disabled.close();
    }
  });
});
