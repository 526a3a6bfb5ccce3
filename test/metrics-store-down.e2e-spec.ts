import { ChildProcess, spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort, http } from './support/process';
import { Stack, startStack } from './support/stack';

jest.setTimeout(120_000);

const ADMIN_KEY = 'metrics-outage-admin-key';

// The scrape goes on through a Redis outage: the admin secret is still checked (counted in this process meanwhile),
// and only the pool gauge, which needs the store, is left out (found in review).
describe('GET /metrics while Redis is down (REDIS_URL)', () => {
  let redis: ChildProcess;
  let stack: Stack;

  beforeAll(async () => {
    const port = await freePort();
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const probe = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
    for (let tries = 0; ; tries++) {
      try {
        if (probe.status === 'wait') await probe.connect();
        if ((await probe.ping()) === 'PONG') break;
      } catch (error) {
        if (tries > 200) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    probe.disconnect();
    stack = await startStack({
      env: {
        REDIS_URL: `redis://127.0.0.1:${port}`,
        REDIS_PREFIX: 'metrics-outage:',
        REDIS_COMMAND_TIMEOUT_MS: '1000',
        ADMIN_KEY,
        METRICS_ENABLED: 'true',
      },
    });
  });
  afterAll(async () => {
    redis?.kill('SIGKILL');
    await stack?.close();
  });

  it('answers 200 with flowgpt_store_up 0 and the other series', async () => {
    const up = await http('GET', `${stack.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` }, timeoutMs: 60_000 });
    expect(up.status).toBe(200);
    expect(up.text).toMatch(/^flowgpt_store_up 1$/m);

    const exited = new Promise((resolve) => redis.once('exit', resolve));
    redis.kill('SIGKILL');
    await exited;

    const down = await http('GET', `${stack.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` }, timeoutMs: 60_000 });
    expect({ status: down.status, head: down.text.slice(0, 200) }).toEqual({ status: 200, head: expect.stringContaining('# HELP') });
    expect(down.text).toMatch(/^flowgpt_store_up 0$/m);
  });
});
