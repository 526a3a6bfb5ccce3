import { maskSecret } from '../src/common/util/secrets';
import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { SeedRegistry } from '../src/token-pool/seed-registry';
import { signInThroughForm } from './support/browser-sign-in';
import { GATEWAY_ADMIN_KEY, SignedInGatewayStack, startSignedInGateway, conversationBody } from './support/gateway-stack';
import { startStack } from './support/stack';

jest.setTimeout(120_000);

const POOL_KEY = 'pool-key-for-seedtoken-tests';
const ADMIN = { Authorization: `Bearer ${GATEWAY_ADMIN_KEY}` };
const REDIS_URL = 'redis://127.0.0.1:6379';

describe.each([
  ['file store', () => ({})],
  ['Redis store', () => ({ REDIS_URL, REDIS_PREFIX: `flowgpt-seedtoken-e2e-${randomBytes(4).toString('hex')}:` })],
])('/seedtoken for user panels (%s)', (_name, storeEnv) => {
  const env: Record<string, string> = storeEnv();
  let gw: SignedInGatewayStack;
  let accessToken: string;
  let otherAccessToken: string;
  let refreshToken: string;

  beforeAll(async () => {
    gw = await startSignedInGateway({ env: { AUTO_SEED: 'false', AUTHORIZATION: POOL_KEY, NO_SENTINEL: 'true', ...env } });
    accessToken = gw.fake.createAccessToken({ email: 'panel.one@example.com', userId: 'user-PanelOneXXXXXXXXXXXXXXX' });
    otherAccessToken = gw.fake.createAccessToken({ email: 'panel.two@example.com', userId: 'user-PanelTwoXXXXXXXXXXXXXXX' });
    refreshToken = gw.fake.createRefreshToken();
  });
  afterAll(async () => {
    await gw?.close();
    if (env.REDIS_PREFIX) {
      const redis = new Redis(REDIS_URL);
      const keys = await redis.keys(`${env.REDIS_PREFIX}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    }
  });

  describe('credential', () => {
    it.each([
      ['GET', undefined],
      ['GET', 'Basic abc'],
      ['POST', undefined],
      ['DELETE', 'Token abc'],
    ])('%s with authorization %p: 403 Not authenticated', async (method, header) => {
      const call = request(gw.url)[method.toLowerCase() as 'get' | 'post' | 'delete']('/seedtoken');
      const response = await (header ? call.set('Authorization', header) : call).send({ seed: 'panel-seed-0001' });
      expect(response.status).toBe(403);
      expect(response.body).toEqual({ detail: 'Not authenticated' });
    });

    it('refuses a wrong secret and the pool key with 401 Invalid authorization', async () => {
      for (const key of ['not-the-admin-key', POOL_KEY]) {
        const response = await request(gw.url).get('/seedtoken').set('Authorization', `Bearer ${key}`);
        expect(response.status).toBe(401);
        expect(response.body).toEqual({ detail: 'Invalid authorization' });
      }
    });
  });

  describe('POST', () => {
    it('binds a seed to an AccessToken given as oai-flow-token, adding it to the pool', async () => {
      const response = await request(gw.url).post('/seedtoken').set(ADMIN).send({ seed: 'panel-seed-0001', 'oai-flow-token': accessToken });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ status: 'success', message: 'Token updated successfully' });
      const pool = await request(gw.url).get('/admin/api/tokens').set(ADMIN).expect(200);
      expect(pool.body.data).toHaveLength(1);
    });

    it('accepts the credential as token (chat2api), and a RefreshToken', async () => {
      const response = await request(gw.url).post('/seedtoken').set(ADMIN).send({ seed: 'panel-seed-0002', token: refreshToken });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ status: 'success', message: 'Token updated successfully' });
    });

    it('does not add a credential the pool holds already', async () => {
      await request(gw.url).post('/seedtoken').set(ADMIN).send({ seed: 'panel-seed-0003', token: accessToken }).expect(200);
      const pool = await request(gw.url).get('/admin/api/tokens').set(ADMIN).expect(200);
      expect(pool.body.data).toHaveLength(2);
    });

    it.each([
      [{ 'oai-flow-token': 'x' }, 'Missing required field: seed'],
      [{ seed: '', token: 'x' }, 'Missing required field: seed'],
      [{ seed: 'panel-seed-0009' }, 'Missing required field: oai-flow-token'],
      [{ seed: 'panel-seed-0009', token: 'this-is-no-credential' }, 'The token must be an AccessToken, a RefreshToken or a SessionToken'],
      [{ seed: 'panel-seed-0009', token: 42 }, expect.stringContaining('token')],
      [{ seed: 'short', token: 'x'.repeat(45) }, expect.stringContaining('8 to 256')],
      [{ seed: POOL_KEY, token: 'x'.repeat(45) }, expect.stringContaining('pool key')],
    ])('refuses %p with 400', async (body, detail) => {
      const response = await request(gw.url).post('/seedtoken').set(ADMIN).send(body);
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ detail });
      expect((await request(gw.url).get('/seedtoken').set(ADMIN).query({ seed: 'panel-seed-0009' })).status).toBe(404);
    });

    it('refuses an expired AccessToken', async () => {
      const expired = gw.fake.createAccessToken({ expiresInSec: -60 });
      const response = await request(gw.url).post('/seedtoken').set(ADMIN).send({ seed: 'panel-seed-0009', token: expired });
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ detail: 'The AccessToken has expired' });
    });

    it('answers 400 Invalid JSON data for a body that does not parse', async () => {
      const response = await request(gw.url).post('/seedtoken').set(ADMIN).set('Content-Type', 'application/json').send('{"seed":');
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ detail: 'Invalid JSON data' });
    });
  });

  describe('GET', () => {
    it('answers the credential a seed is bound to', async () => {
      const response = await request(gw.url).get('/seedtoken').set(ADMIN).query({ seed: 'panel-seed-0001' });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ status: 'success', data: { seed: 'panel-seed-0001', token: maskSecret(accessToken) } });
      expect(response.text).not.toContain(accessToken);
    });

    it('answers every seed without a seed parameter', async () => {
      const response = await request(gw.url).get('/seedtoken').set(ADMIN);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        status: 'success',
        data: {
          'panel-seed-0001': maskSecret(accessToken),
          'panel-seed-0002': maskSecret(refreshToken),
          'panel-seed-0003': maskSecret(accessToken),
        },
      });
      expect(response.text).not.toContain(refreshToken);
    });

    it('answers 404 for an unknown seed', async () => {
      const response = await request(gw.url).get('/seedtoken').set(ADMIN).query({ seed: 'panel-seed-unknown' });
      expect(response.status).toBe(404);
      expect(response.body).toEqual({ detail: "Seed 'panel-seed-unknown' not found" });
    });
  });

  describe('a seed the panel bound, with AUTO_SEED=false', () => {
    let conversationId: string;

    it('signs in to the gateway and chats on its bound account', async () => {
      await expect(signInThroughForm(gw.url, 'panel-seed-never-bound')).rejects.toThrow(/sign-in refused/);
      const browser = await signInThroughForm(gw.url, 'panel-seed-0001');
      gw.fake.requests.length = 0;
      const chat = await request(gw.url)
        .post('/backend-api/conversation')
        .set(browser.bearer)
        .send(conversationBody('hello from the panel'));
      expect(chat.status).toBe(200);
      conversationId = /"conversation_id":\s*"([0-9a-f-]{36})"/.exec(chat.text)?.[1] ?? '';
      expect(conversationId).not.toBe('');
      const upstream = gw.fake.conversationRequests();
      expect(upstream).toHaveLength(1);
      expect(upstream[0].headers.authorization).toBe(`Bearer ${accessToken}`);
    });

    it('keeps its conversations when the panel binds it to another credential', async () => {
      const seeds = gw.app.get(SeedRegistry);
      expect(await seeds.seedConversations('panel-seed-0001')).toEqual([conversationId]);
      await request(gw.url).post('/seedtoken').set(ADMIN).send({ seed: 'panel-seed-0001', token: otherAccessToken }).expect(200);
      expect(await seeds.seedConversations('panel-seed-0001')).toEqual([conversationId]);
      const read = await request(gw.url).get('/seedtoken').set(ADMIN).query({ seed: 'panel-seed-0001' }).expect(200);
      expect(read.body.data.token).toBe(maskSecret(otherAccessToken));

      const browser = await signInThroughForm(gw.url, 'panel-seed-0001');
      gw.fake.requests.length = 0;
      await request(gw.url).post('/backend-api/conversation').set(browser.bearer).send(conversationBody('again')).expect(200);
      expect(gw.fake.conversationRequests()[0].headers.authorization).toBe(`Bearer ${otherAccessToken}`);
    });
  });

  describe('DELETE', () => {
    it('removes one seed, then answers 404 for it', async () => {
      const response = await request(gw.url).delete('/seedtoken').set(ADMIN).send({ seed: 'panel-seed-0003' });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ status: 'success', message: "Seed 'panel-seed-0003' deleted successfully" });
      const again = await request(gw.url).delete('/seedtoken').set(ADMIN).send({ seed: 'panel-seed-0003' });
      expect(again.status).toBe(404);
      expect(again.body).toEqual({ detail: "Seed 'panel-seed-0003' not found" });
    });

    it('answers 400 for a missing seed and for a body that does not parse', async () => {
      const missing = await request(gw.url).delete('/seedtoken').set(ADMIN).send({});
      expect(missing.status).toBe(400);
      expect(missing.body).toEqual({ detail: 'Missing required field: seed' });
      const broken = await request(gw.url).delete('/seedtoken').set(ADMIN).set('Content-Type', 'application/json').send('{seed');
      expect(broken.status).toBe(400);
      expect(broken.body).toEqual({ detail: 'Invalid JSON data' });
    });

    it('removes every seed for {"seed":"clear"}, keeping the accounts', async () => {
      const response = await request(gw.url).delete('/seedtoken').set(ADMIN).send({ seed: 'clear' });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ status: 'success', message: 'All seeds deleted successfully' });
      expect((await request(gw.url).get('/seedtoken').set(ADMIN).expect(200)).body).toEqual({ status: 'success', data: {} });
      expect((await request(gw.url).get('/admin/api/tokens').set(ADMIN).expect(200)).body.data.length).toBeGreaterThan(0);
    });
  });
});

describe('/seedtoken when it is off', () => {
  it.each([
    ['without the gateway', { ADMIN_KEY: GATEWAY_ADMIN_KEY }],
    ['without an admin secret', { ENABLE_GATEWAY: 'true', AUTHORIZATION: POOL_KEY }],
  ])('answers 404 like an unknown URL %s', async (_name, env) => {
    const stack = await startStack({ env });
    try {
      for (const key of [GATEWAY_ADMIN_KEY, POOL_KEY]) {
        const response = await request(stack.url).get('/seedtoken').set('Authorization', `Bearer ${key}`);
        expect(response.status).toBe(404);
        expect(response.body.error.code).toBe('unknown_url');
      }
    } finally {
      await stack.close();
    }
  });
});
