import type { AccountView } from '../../src/token-pool/pool.types';
import { OwnRedis } from '../support/own-redis';
import { freePort, http, HttpAnswer } from '../support/process';
import { Stack, startStack } from '../support/stack';

jest.setTimeout(120_000);

const POOL_KEY = 'pool-key';
const ADMIN_KEY = 'outage-admin-key';

/**
 * Redis stalls (SIGSTOP) and dies (SIGKILL) under a running app: requests that need the store answer 503
 * `store_unavailable` instead of hanging or failing with 500, and once Redis is back (same port, same
 * append-only file) the app serves again by itself, with every account written before.
 */
describe('Redis outage', () => {
  let redis: OwnRedis;
  let stack: Stack;

  beforeAll(async () => {
    redis = new OwnRedis(await freePort());
    await redis.start();
    stack = await startStack({
      env: {
        REDIS_URL: redis.url,
        REDIS_PREFIX: 'outage:',
        REDIS_COMMAND_TIMEOUT_MS: '1000',
        AUTHORIZATION: POOL_KEY,
        ADMIN_KEY,
        RANDOM_TOKEN: 'false',
      },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.remove();
  });

  // Generous client timeout: a hang fails the test, a slow busy machine does not.
  const call = (method: string, path: string, headers: Record<string, string>, json?: unknown) =>
    http(method, `${stack.url}${path}`, { headers, json, timeoutMs: 60_000 });
  const admin = (method: string, path: string, json?: unknown) => call(method, path, { authorization: `Bearer ${ADMIN_KEY}` }, json);
  const chat = () =>
    call(
      'POST',
      '/v1/chat/completions',
      { authorization: `Bearer ${POOL_KEY}` },
      { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello?' }] },
    );
  const requests: Record<string, () => Promise<HttpAnswer>> = {
    'GET /readyz': () => call('GET', '/readyz', {}),
    'POST /v1/chat/completions': chat,
    'GET /admin/api/tokens': () => admin('GET', '/admin/api/tokens'),
    'POST /admin/login': () => call('POST', '/admin/login', { accept: 'application/json' }, { secret: ADMIN_KEY }),
  };

  const models = () => call('GET', '/v1/models', { authorization: `Bearer ${POOL_KEY}` });
  const expectAllUnavailable = async () => {
    // The model list falls back to the static table when no account can be had: it answers, without hanging.
    const listed = await models();
    expect(listed.status).toBe(200);
    expect((listed.json as { data: { id: string }[] }).data.map((model) => model.id)).toContain('gpt-4o');
    for (const [name, send] of Object.entries(requests)) {
      const answer = await send();
      expect({ name, status: answer.status, code: (answer.json as { error?: { code?: string } })?.error?.code }).toEqual({
        name,
        status: 503,
        code: 'store_unavailable',
      });
      expect((answer.json as { error: { message: string } }).error.message).toContain(`Redis at redis://127.0.0.1:${redis.port}`);
    }
  };
  /** Polls until Redis answers the app again: reconnecting takes ioredis a moment. */
  const waitUntilReady = async () => {
    for (let tries = 0; ; tries++) {
      const answer = await call('GET', '/readyz', {});
      if (answer.status === 200) return answer;
      if (tries > 300) throw new Error(`Still not ready: ${answer.text}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const accountIds = async () => {
    const answer = await admin('GET', '/admin/api/tokens');
    expect(answer.status).toBe(200);
    return (answer.json as { data: AccountView[] }).data.map((account) => account.id);
  };

  it('answers 503 store_unavailable while Redis is stopped or dead, and serves again with the same data once it is back', async () => {
    const tokens = [stack.fake.createAccessToken(), stack.fake.createAccessToken()];
    expect((await admin('POST', '/admin/api/tokens', { tokens })).json).toEqual({
      added: 2,
      replaced: 0,
      duplicates: 0,
      invalid: 0,
      invalidLines: [],
    });
    const ids = await accountIds();
    const ready = await call('GET', '/readyz', {});
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({
      status: 'ready',
      store: 'redis',
      accounts: { total: 2, active: 2, rate_limited: 0, expired: 0, disabled: 0 },
      seeds: 0,
    });
    expect((await chat()).status).toBe(200);

    // Stalled: the socket stays open and nothing answers.
    redis.signal('SIGSTOP');
    try {
      await expectAllUnavailable();
      expect((await call('GET', '/healthz', {})).status).toBe(200);
    } finally {
      redis.signal('SIGCONT');
    }
    await waitUntilReady();
    expect((await chat()).status).toBe(200);

    // Dead: the connection is refused until it is restarted.
    await redis.kill();
    await expectAllUnavailable();
    expect((await call('GET', '/healthz', {})).status).toBe(200);

    await redis.start();
    const back = await waitUntilReady();
    expect(back.json).toMatchObject({ store: 'redis', accounts: { total: 2 } });
    expect(await accountIds()).toEqual(ids);
    expect((await chat()).status).toBe(200);
  });
});
