import request from 'supertest';
import { Stack, startStack } from './support/stack';

jest.setTimeout(120_000);

const ADMIN_KEY = 'metrics-admin-key-7f3a';

/** The value of one sample line (`name{labels} value`), or undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const match = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const present = Object.fromEntries([...(match[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) return Number(match[2]);
  }
  return undefined;
}

describe('GET /metrics (METRICS_ENABLED=true, behind the admin secret)', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ env: { ADMIN_KEY, METRICS_ENABLED: 'true', RETRY_TIMES: '2' } });
  });
  afterAll(() => stack.close());

  const scrape = () => request(stack.url).get('/metrics').set('authorization', `Bearer ${ADMIN_KEY}`);

  it('refuses a scrape without the admin secret, or with a wrong one (401, OpenAI error shape)', async () => {
    const none = await request(stack.url).get('/metrics');
    expect(none.status).toBe(401);
    expect(none.body.error).toEqual(expect.objectContaining({ type: 'authentication_error', code: 'invalid_admin_key' }));
    expect((await request(stack.url).get('/metrics').set('authorization', 'Bearer not-the-secret')).status).toBe(401);
  });

  it('counts requests by route pattern and status, upstream steps, retries, PoW solves and pool accounts', async () => {
    const token = stack.fake.createAccessToken();
    await stack.openai(token).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    stack.fake.enqueue({ kind: 'status', status: 502 });
    stack.fake.enqueue({ kind: 'text', text: 'second try' });
    const stream = await stack
      .openai(token)
      .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'again' }], stream: true });
    for await (const _chunk of stream) void _chunk;
    await request(stack.url).get('/admin/api/accounts/some-id-that-does-not-exist').set('authorization', `Bearer ${ADMIN_KEY}`);
    await request(stack.url).get('/no/such/path/12345');
    const upload = await request(stack.url)
      .post('/admin/api/tokens')
      .set('authorization', `Bearer ${ADMIN_KEY}`)
      .send({ tokens: [stack.fake.createAccessToken()] });
    expect(upload.status).toBe(200);

    const answer = await scrape();
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^text\/plain/);
    const text = answer.text;
    expect(sample(text, 'flowgpt_http_requests_total', { method: 'POST', route: '/v1/chat/completions', status: '200' })).toBe(2);
    expect(sample(text, 'flowgpt_http_requests_total', { route: '(unmatched)', status: '404' })).toBeGreaterThanOrEqual(1);
    // Raw paths never become label values.
    expect(text).not.toContain('some-id-that-does-not-exist');
    expect(text).not.toContain('/no/such/path');
    expect(sample(text, 'flowgpt_upstream_request_duration_seconds_count', { step: 'conversation', outcome: '2xx' })).toBe(2);
    expect(sample(text, 'flowgpt_upstream_request_duration_seconds_count', { step: 'conversation', outcome: '5xx' })).toBe(1);
    // The default flow (UPSTREAM_FLOW=auto) sends through f/conversation: prepare/finalize, then a conduit token, each attempt.
    expect(sample(text, 'flowgpt_upstream_request_duration_seconds_count', { step: 'sentinel_prepare', outcome: '2xx' })).toBe(3);
    expect(sample(text, 'flowgpt_upstream_request_duration_seconds_count', { step: 'sentinel_finalize', outcome: '2xx' })).toBe(3);
    expect(sample(text, 'flowgpt_upstream_request_duration_seconds_count', { step: 'conversation_prepare', outcome: '2xx' })).toBe(3);
    expect(sample(text, 'flowgpt_upstream_request_duration_seconds_count', { step: 'proof_of_work' })).toBe(3);
    expect(sample(text, 'flowgpt_upstream_retries_total', { reason: 'error' })).toBe(1);
    expect(sample(text, 'flowgpt_pow_solve_duration_seconds_count', { outcome: 'solved' })).toBe(3);
    expect(sample(text, 'flowgpt_pool_accounts', { state: 'active' })).toBe(1);
    expect(sample(text, 'flowgpt_pool_accounts', { state: 'disabled' })).toBe(0);
    expect(sample(text, 'flowgpt_open_streams')).toBe(0);
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });

  it('shows a stream while it is open', async () => {
    const token = stack.fake.createAccessToken();
    stack.fake.enqueue({ kind: 'stall', text: 'wait for it', afterChunks: 1, stallMs: 60_000 });
    const stream = await stack
      .openai(token)
      .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'slow' }], stream: true });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    expect(sample((await scrape()).text, 'flowgpt_open_streams')).toBe(1);
    stream.controller.abort();
    await iterator.next().catch(() => undefined);
    for (let i = 0; i < 100 && sample((await scrape()).text, 'flowgpt_open_streams') !== 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sample((await scrape()).text, 'flowgpt_open_streams')).toBe(0);
  });
});

describe('GET /metrics when METRICS_ENABLED is unset', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ env: { ADMIN_KEY } });
  });
  afterAll(() => stack.close());

  it('does not exist (404), even with the admin secret', async () => {
    const answer = await request(stack.url).get('/metrics').set('authorization', `Bearer ${ADMIN_KEY}`);
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe('unknown_url');
  });

  it('sends helmet headers on API responses and a strict CSP on the admin pages', async () => {
    const token = stack.fake.createAccessToken();
    const api = await request(stack.url).get('/v1/models').set('authorization', `Bearer ${token}`);
    expect(api.status).toBe(200);
    expect(api.headers).toEqual(
      expect.objectContaining({ 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'same-origin' }),
    );
    expect(api.headers['x-powered-by']).toBeUndefined();
    expect(api.headers['content-security-policy']).toBeUndefined();
    // CORS for browser clients of the API still works.
    expect(api.headers['access-control-allow-origin']).toBe('*');

    const page = await request(stack.url).get('/admin/login');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    const csp = page.headers['content-security-policy'];
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect((await request(stack.url).get('/admin')).headers['content-security-policy']).toBe(csp);
    expect((await request(stack.url).get('/static/flowgpt.js')).headers['content-security-policy']).toBe(csp);
  });
});
