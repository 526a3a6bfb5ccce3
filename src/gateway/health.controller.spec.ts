import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { createControllerApp } from '../common/testing/controller-app';
import { PoolReadModel } from '../token-pool/pool-read-model';
import { HealthController } from './health.controller';

describe('HealthController (HTTP edge)', () => {
  let app: NestExpressApplication;
  beforeAll(async () => {
    app = await createControllerApp(
      { controllers: [HealthController], providers: [{ provide: PoolReadModel, useValue: { readiness: jest.fn() } }] },
      { AUTHORIZATION: 'pool-key', AUTH_KEY: 'auth-key', ADMIN_KEY: 'admin-key-for-health-spec' },
    );
  });
  afterAll(() => app.close());

  it('answers ok without any credentials and is never cached', async () => {
    const response = await request(app.getHttpServer()).get('/healthz').expect(200);
    expect(response.body).toEqual({ status: 'ok' });
    expect(response.headers['cache-control']).toBe('no-store');
  });

  it('answers other methods with 404 in the OpenAI shape', async () => {
    const response = await request(app.getHttpServer()).post('/healthz').expect(404);
    expect(response.body).toEqual({
      error: { message: 'Unknown request URL: POST /healthz.', type: 'invalid_request_error', param: null, code: 'unknown_url' },
    });
  });
});
