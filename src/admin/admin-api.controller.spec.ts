import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { createControllerApp } from '../common/testing/controller-app';
import { Clock } from '../common/vocabulary/clock';
import { FakeClock } from '../token-pool/testing/fake-clock';
import { PoolAdmin } from '../token-pool/pool-admin';
import { PoolReadModel } from '../token-pool/pool-read-model';
import { PoolRefresher } from '../token-pool/pool-refresher';
import { SeedRegistry } from '../token-pool/seed-registry';
import { AdminApiController } from './admin-api.controller';
import { AdminAuthGuard } from './admin-auth.guard';
import { AdminAuthService } from './admin-auth.service';
import { AdminSecret } from './admin-secret.service';
import { AdminSigningKey } from './admin-signing-key';
import { AdminSessionStore } from './admin-session.store';
import { CsrfService } from './csrf.service';
import { sessionCookieFor } from './testing/session-cookie';
import { LoginThrottle, MAX_FAILED_LOGINS } from './login-throttle.service';

const ADMIN_KEY = 'admin-key-for-controller-spec';

describe('AdminApiController (HTTP edge)', () => {
  const pool = {
    list: jest.fn(),
    counts: jest.fn(),
    upload: jest.fn(),
    clear: jest.fn(),
    remove: jest.fn(),
    restore: jest.fn(),
    refresh: jest.fn(),
    listSeeds: jest.fn(),
    createSeed: jest.fn(),
    removeSeed: jest.fn(),
    clearSeeds: jest.fn(),
    removeSeedById: jest.fn(),
    findView: jest.fn(),
  };

  /** The real guard and its collaborators; only the pool's services are fakes (one object standing for all four). */
  function appWith(env: Record<string, string>): Promise<NestExpressApplication> {
    return createControllerApp(
      {
        controllers: [AdminApiController],
        providers: [
          { provide: Clock, useValue: new FakeClock() },
          AdminSecret,
          LoginThrottle,
          AdminSigningKey,
          AdminSessionStore,
          CsrfService,
          AdminAuthService,
          AdminAuthGuard,
          { provide: PoolReadModel, useValue: pool },
          { provide: PoolAdmin, useValue: pool },
          { provide: PoolRefresher, useValue: pool },
          { provide: SeedRegistry, useValue: pool },
        ],
      },
      env,
    );
  }

  let app: NestExpressApplication;
  beforeEach(async () => {
    jest.resetAllMocks();
    app = await appWith({ ADMIN_KEY });
  });
  afterEach(() => app.close());

  const api = () => request(app.getHttpServer());
  const bearer = { Authorization: `Bearer ${ADMIN_KEY}` };

  describe('access', () => {
    it('answers 401 in the OpenAI shape without admin credentials', async () => {
      const response = await api().get('/admin/api/tokens').expect(401);
      expect(response.body).toEqual({
        error: {
          message: 'Missing admin credentials: send `Authorization: Bearer <admin secret>`.',
          type: 'authentication_error',
          param: null,
          code: 'invalid_admin_key',
        },
      });
      expect(pool.list).not.toHaveBeenCalled();
    });

    it('answers 401 for a wrong secret, and 429 with Retry-After once the address has guessed too often', async () => {
      // The throttle checks one attempt a minute once locked; the first one after the lock is spent on a wrong guess.
      for (let attempt = 1; attempt < MAX_FAILED_LOGINS; attempt++) {
        const wrong = await api().post('/admin/api/tokens').set('Authorization', 'Bearer not-the-key').send({ tokens: [] }).expect(401);
        expect(wrong.body).toEqual({
          error: { message: 'Wrong admin secret.', type: 'authentication_error', param: null, code: 'invalid_admin_key' },
        });
      }
      await api().get('/admin/api/tokens').set('Authorization', 'Bearer not-the-key').expect(401);
      await api().get('/admin/api/tokens').set('Authorization', 'Bearer not-the-key').expect(429);
      const throttled = await api().get('/admin/api/tokens').set(bearer).expect(429);
      expect(throttled.body.error).toMatchObject({ type: 'rate_limit_error', param: null, code: 'rate_limit_exceeded' });
      expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(0);
      expect(pool.upload).not.toHaveBeenCalled();
      expect(pool.list).not.toHaveBeenCalled();
    });

    it('answers 404 like an unknown URL when no admin secret is configured', async () => {
      const disabled = await appWith({});
      try {
        const response = await request(disabled.getHttpServer()).get('/admin/api/tokens').set(bearer).expect(404);
        expect(response.body).toEqual({
          error: {
            message: 'Unknown request URL: GET /admin/api/tokens.',
            type: 'invalid_request_error',
            param: null,
            code: 'unknown_url',
          },
        });
      } finally {
        await disabled.close();
      }
    });

    it('accepts the session cookie for reads but wants its CSRF token on writes', async () => {
      const { session, cookieValue } = await app.get(AdminSessionStore).create();
      const cookie = sessionCookieFor(cookieValue);
      pool.list.mockResolvedValue([]);
      pool.counts.mockResolvedValue({ total: 0 });
      await api().get('/admin/api/tokens').set('Cookie', cookie).expect(200);

      const refused = await api().delete('/admin/api/tokens').set('Cookie', cookie).expect(403);
      expect(refused.body.error).toMatchObject({ type: 'invalid_request_error', param: null, code: 'invalid_csrf_token' });
      expect(pool.clear).not.toHaveBeenCalled();

      pool.clear.mockResolvedValue(3);
      const cleared = await api().delete('/admin/api/tokens').set('Cookie', cookie).set('x-csrf-token', session.csrfToken).expect(200);
      expect(cleared.body).toEqual({ removed: 3 });
    });
  });

  describe('validation', () => {
    it.each([
      ['no tokens', {}, 'missing_required_parameter', "Missing required parameter: 'tokens'."],
      ['tokens as a string', { tokens: 'eyJ...' }, 'invalid_value', "Invalid value for 'tokens': must be an array."],
      [
        'a token that is not a string',
        { tokens: ['ok', 5] },
        'invalid_value',
        "Invalid value for 'tokens': each value in tokens must be a string.",
      ],
    ])('answers 400 with param for an upload with %s', async (_case, body, code, message) => {
      const response = await api().post('/admin/api/tokens').set(bearer).send(body).expect(400);
      expect(response.body).toEqual({ error: { message, type: 'invalid_request_error', param: 'tokens', code } });
      expect(pool.upload).not.toHaveBeenCalled();
    });

    it('answers 400 with param for a refresh whose `force` is not a boolean', async () => {
      const response = await api().post('/admin/api/refresh').set(bearer).send({ force: 'yes' }).expect(400);
      expect(response.body.error).toMatchObject({ type: 'invalid_request_error', param: 'force', code: 'invalid_value' });
      expect(pool.refresh).not.toHaveBeenCalled();
    });

    // A pool of thousands came back whole on every call; a script reading it in pages had to take it all each time.
    it('lists a page of the accounts with offset and limit (all of them without), the counts still the whole pool', async () => {
      const accounts = Array.from({ length: 5 }, (_, index) => ({ id: `account-${index}` }));
      const counts = { total: 5, active: 5, rate_limited: 0, expired: 0, disabled: 0 };
      pool.list.mockResolvedValue(accounts);
      pool.counts.mockResolvedValue(counts);
      const ids = async (query: string) =>
        ((await api().get(`/admin/api/tokens${query}`).set(bearer).expect(200)).body as { data: { id: string }[] }).data.map(
          (account) => account.id,
        );
      expect(await ids('')).toEqual(accounts.map((account) => account.id));
      expect(await ids('?limit=2')).toEqual(['account-0', 'account-1']);
      expect(await ids('?offset=2&limit=2')).toEqual(['account-2', 'account-3']);
      expect(await ids('?offset=4')).toEqual(['account-4']);
      expect(await ids('?offset=9&limit=2')).toEqual([]);
      expect((await api().get('/admin/api/tokens?offset=1&limit=1').set(bearer).expect(200)).body.counts).toEqual(counts);
    });

    it.each([
      ['offset=-1', 'offset'],
      ['offset=abc', 'offset'],
      ['offset=1.5', 'offset'],
      ['limit=0', 'limit'],
      ['limit=', 'limit'],
      ['limit=ten', 'limit'],
      ['limit=1&limit=2', 'limit'],
    ])('answers 400 naming the parameter for a list with %s', async (query, param) => {
      const response = await api().get(`/admin/api/tokens?${query}`).set(bearer).expect(400);
      expect(response.body.error).toMatchObject({ type: 'invalid_request_error', param, code: 'invalid_value' });
      expect(response.body.error.message).toBe(
        `Invalid value for '${param}': must be a whole number, ${param === 'offset' ? 0 : 1} or more.`,
      );
      expect(pool.list).not.toHaveBeenCalled();
    });

    it('passes a valid upload to the pool and answers its result', async () => {
      pool.upload.mockResolvedValue({ added: 1, replaced: 0, duplicates: 0, invalid: 1 });
      const response = await api()
        .post('/admin/api/tokens')
        .set(bearer)
        .send({ tokens: ['token-a', 'token-b'] })
        .expect(200);
      expect(response.body).toEqual({ added: 1, replaced: 0, duplicates: 0, invalid: 1 });
      expect(pool.upload).toHaveBeenCalledWith(['token-a', 'token-b']);
    });
  });

  describe('unknown ids', () => {
    const accountNotFound = (id: string) => ({
      error: { message: `No account with id '${id}'.`, type: 'invalid_request_error', param: null, code: 'account_not_found' },
    });

    it('answers 404 account_not_found when deleting an unknown account', async () => {
      pool.remove.mockResolvedValue(false);
      const response = await api().delete('/admin/api/tokens/acc-missing').set(bearer).expect(404);
      expect(response.body).toEqual(accountNotFound('acc-missing'));
      expect(pool.remove).toHaveBeenCalledWith('acc-missing');
    });

    it('answers 404 account_not_found when restoring an unknown account', async () => {
      pool.restore.mockResolvedValue(false);
      const response = await api().post('/admin/api/tokens/acc-missing/restore').set(bearer).expect(404);
      expect(response.body).toEqual(accountNotFound('acc-missing'));
    });

    it('answers 404 account_not_found when refreshing an unknown account, without refreshing anything', async () => {
      pool.findView.mockResolvedValue(null);
      const response = await api().post('/admin/api/refresh').set(bearer).send({ id: 'acc-missing' }).expect(404);
      expect(response.body).toEqual(accountNotFound('acc-missing'));
      expect(pool.refresh).not.toHaveBeenCalled();
    });

    it('answers 404 seed_not_found for an unknown seed', async () => {
      pool.removeSeedById.mockResolvedValue(false);
      const byId = await api().delete('/admin/api/seeds/seed-missing').set(bearer).expect(404);
      expect(byId.body).toEqual({
        error: { message: "No seed with id 'seed-missing'.", type: 'invalid_request_error', param: null, code: 'seed_not_found' },
      });
      pool.removeSeed.mockResolvedValue(false);
      const byValue = await api().delete('/admin/api/seeds').set(bearer).send({ seed: 'no-such-seed' }).expect(404);
      expect(byValue.body.error).toMatchObject({ code: 'seed_not_found', param: null });
    });

    it('removes every seed only when asked in so many words, never for a body without a seed (found in review)', async () => {
      pool.clearSeeds.mockResolvedValue(2);
      const unparsed = [
        api().delete('/admin/api/seeds').set(bearer).type('form').send('{"seed":"seed-to-remove"}'),
        api().delete('/admin/api/seeds').set(bearer).type('text/plain').send('{"seed":"seed-to-remove"}'),
        api().delete('/admin/api/seeds').set(bearer),
        api().delete('/admin/api/seeds').set(bearer).send({}),
        api().delete('/admin/api/seeds').set(bearer).send({ seed: '   ' }),
      ];
      for (const response of await Promise.all(unparsed)) {
        expect(response.status).toBe(400);
        expect(response.body.error).toMatchObject({ type: 'invalid_request_error', param: 'seed', code: 'missing_required_parameter' });
      }
      const both = await api().delete('/admin/api/seeds').set(bearer).send({ seed: 'seed-to-remove', all: true }).expect(400);
      expect(both.body.error).toMatchObject({ param: 'all', code: 'invalid_value' });
      expect(pool.clearSeeds).not.toHaveBeenCalled();
      expect(pool.removeSeed).not.toHaveBeenCalled();

      expect((await api().delete('/admin/api/seeds').set(bearer).send({ all: true }).expect(200)).body).toEqual({ removed: 2 });
      expect((await api().delete('/admin/api/seeds?all=true').set(bearer).expect(200)).body).toEqual({ removed: 2 });
      expect(pool.clearSeeds).toHaveBeenCalledTimes(2);
    });

    it('deletes a known account', async () => {
      pool.remove.mockResolvedValue(true);
      const response = await api().delete('/admin/api/tokens/acc-1').set(bearer).expect(200);
      expect(response.body).toEqual({ id: 'acc-1', deleted: true });
    });
  });
});
