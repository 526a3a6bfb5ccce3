import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { accountIdFor } from '../src/token-pool/account-record';
import type { AccountView } from '../src/token-pool/pool.types';
import { FakeUpstream } from './fake-upstream/fake-upstream';
import { http, ServerProcess, startServer, stopAllServers } from './support/process';

/**
 * Two real server processes sharing one Redis (issue 4): the pool, its round-robin cursor, account states
 * and the refresh schedule are one across instances. The fake upstream runs in this process.
 */
const REDIS_URL = 'redis://127.0.0.1:6379';
const POOL_KEY = 'pool-key';
const ADMIN_KEY = 'multi-admin-key';
/**
 * Every 4 s. Not 3 s: the instances take turns, so each would reuse its keep-alive connections to the auth
 * server after exactly 6 s idle, the moment a Node server (the fake) drops them, and the agents of
 * src/upstream/proxy-agents.ts do not follow the server's Keep-Alive hint: some exchanges would fail with ECONNRESET.
 */
const CRON_PERIOD_MS = 4_000;
const REFRESH_CRON = '*/4 * * * * *';
const LAST_RUN_FIELD = 'refresh-job:last-run';

jest.setTimeout(120_000);

describe('two instances on one Redis', () => {
  const prefix = `flowgpt-e2e-${randomBytes(4).toString('hex')}:`;
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  const dataDirs: string[] = [];
  let fake: FakeUpstream;
  let one: ServerProcess;
  let two: ServerProcess;

  const start = () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'flowgpt-multi-'));
    dataDirs.push(dataDir);
    return startServer({
      REDIS_URL,
      REDIS_PREFIX: prefix,
      DATA_DIR: dataDir,
      CHATGPT_BASE_URL: fake.url,
      AUTH_BASE_URL: fake.url,
      AUTHORIZATION: POOL_KEY,
      RANDOM_TOKEN: 'false',
      ADMIN_KEY,
      // The tests give each client its own address with X-Forwarded-For, trusted only from a listed proxy.
      TRUSTED_PROXIES: '127.0.0.1, ::1',
      SCHEDULED_REFRESH: 'true',
      REFRESH_CRON,
      // Every occurrence runs (the default waits 4 days between forced refreshes).
      REFRESH_INTERVAL_DAYS: '0',
      LOG_LEVEL: 'log',
      NO_COLOR: '1',
    });
  };

  beforeAll(async () => {
    await redis.connect();
    fake = await FakeUpstream.start();
    [one, two] = await Promise.all([start(), start()]);
  }, 240_000);
  afterAll(async () => {
    await stopAllServers();
    await fake.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    expect((await admin(one, 'DELETE', '/admin/api/tokens')).status).toBe(200);
    fake.reset();
  });

  const admin = (server: ServerProcess, method: string, path: string, json?: unknown) =>
    http(method, `${server.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` }, json });
  const upload = async (server: ServerProcess, tokens: string[]) => {
    const answer = await admin(server, 'POST', '/admin/api/tokens', { tokens });
    expect(answer.json).toEqual({ added: tokens.length, replaced: 0, duplicates: 0, invalid: 0, invalidLines: [] });
  };
  const accounts = async (server: ServerProcess) => {
    const answer = await admin(server, 'GET', '/admin/api/tokens');
    expect(answer.status).toBe(200);
    return (answer.json as { data: AccountView[] }).data;
  };
  const chat = (server: ServerProcess) =>
    new OpenAI({ apiKey: POOL_KEY, baseURL: `${server.url}/v1`, maxRetries: 0, timeout: 20_000 }).chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Which account answers?' }],
    });
  const bearer = (value: unknown) => String(value).replace(/^Bearer /, '');
  const conversationBearers = () => fake.conversationRequests().map((request) => bearer(request.headers.authorization));
  /** Every attempt starts with chat-requirements, where a refused account already fails. */
  const attemptBearers = () => fake.sentinelRequests().map((request) => bearer(request.headers.authorization));
  const labeller = (names: Record<string, string>) => (tokens: string[]) =>
    tokens.map((token) => names[token] ?? `<unknown ${token.slice(-8)}>`);

  it('an account uploaded through one instance serves requests made through the other', async () => {
    const token = fake.createAccessToken();
    await upload(one, [token]);

    await chat(two);

    expect(conversationBearers()).toEqual([token]);
    expect((await accounts(two)).map((account) => account.id)).toEqual([accountIdFor(token)]);
  });

  it('a response stored through one instance is read and continued through the other', async () => {
    const token = fake.createAccessToken();
    await upload(one, [token]);
    const client = (server: ServerProcess) => new OpenAI({ apiKey: POOL_KEY, baseURL: `${server.url}/v1`, maxRetries: 0, timeout: 20_000 });

    const first = await client(one).responses.create({ model: 'gpt-4o', input: 'Remember the word tangerine.' });
    expect((await client(two).responses.retrieve(first.id)).output_text).toBe(first.output_text);
    const next = await client(two).responses.create({ model: 'gpt-4o', input: 'Which word?', previous_response_id: first.id });
    expect(next.status).toBe('completed');

    // The continuation went on in the first answer's upstream conversation.
    const [opening, continuation] = fake.conversationRequests().map((request) => request.body as Record<string, unknown>);
    expect(continuation.conversation_id).toBeTruthy();
    expect(continuation.parent_message_id).not.toBe(opening.parent_message_id);
  });

  it('a response streaming through one instance is seen in progress through the other, then with its outcome', async () => {
    await upload(one, [fake.createAccessToken()]);
    const client = (server: ServerProcess) => new OpenAI({ apiKey: POOL_KEY, baseURL: `${server.url}/v1`, maxRetries: 0, timeout: 20_000 });
    fake.enqueue({ kind: 'stall', text: 'Half of it, then silence.', afterChunks: 1, stallMs: 60_000 });

    const stream = await client(one).responses.create({ model: 'gpt-4o', input: 'Take your time.', stream: true });
    let id = '';
    for await (const event of stream) {
      if (event.type !== 'response.created') continue;
      id = event.response.id;
      expect((await client(two).responses.retrieve(id)).status).toBe('in_progress');
      // Leaving the loop closes the connection: the stream is cancelled.
      break;
    }

    let status = 'in_progress';
    for (let polls = 0; status === 'in_progress' && polls < 500; polls++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      status = (await client(two).responses.retrieve(id)).status!;
    }
    expect(status).toBe('cancelled');
  });

  it('a response left in progress by an instance that was killed is failed through the other once its heartbeat lapses', async () => {
    await upload(one, [fake.createAccessToken()]);
    const client = (server: ServerProcess) => new OpenAI({ apiKey: POOL_KEY, baseURL: `${server.url}/v1`, maxRetries: 0, timeout: 20_000 });
    const heartbeats = () => redis.keys(`${prefix}response-runner:*`);
    const living = new Set(await heartbeats());
    const doomed = await start();
    fake.enqueue({ kind: 'stall', text: 'Half of it, then silence.', afterChunks: 1, stallMs: 120_000 });
    const stream = await client(doomed).responses.create({ model: 'gpt-4o', input: 'Take your time.', stream: true });
    let id = '';
    // Killed mid-answer, its connection still open: no outcome, no farewell, no shutdown. The cut stream then throws.
    await (async () => {
      for await (const event of stream) {
        if (event.type === 'response.created') id = event.response.id;
        if (event.type === 'response.output_text.delta') await doomed.kill('SIGKILL');
      }
    })().catch(() => undefined);
    expect((await client(two).responses.retrieve(id)).status).toBe('in_progress');

    // Its heartbeat is a key with a lease of 30 s: rather than wait that out, the test lets it lapse at once.
    const doomedBeat = (await heartbeats()).filter((key) => !living.has(key));
    expect(doomedBeat).toHaveLength(1);
    const lease = await redis.pttl(doomedBeat[0]);
    expect(lease).toBeGreaterThan(0);
    expect(lease).toBeLessThanOrEqual(30_000);
    await redis.del(doomedBeat[0]);
    // Settled once the killed instance's heartbeat is gone; the deadline only ends a broken test.
    let settled = await client(two).responses.retrieve(id);
    for (const deadline = Date.now() + 90_000; settled.status === 'in_progress' && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      settled = await client(two).responses.retrieve(id);
    }
    expect(settled).toMatchObject({ status: 'failed', error: { code: 'server_error' } });
    expect((await client(one).responses.retrieve(id)).status).toBe('failed');
  }, 180_000);

  it('round-robin is shared: requests alternating between the instances get A, B, C, A, … in order', async () => {
    const tokens = [fake.createAccessToken(), fake.createAccessToken(), fake.createAccessToken()];
    await upload(one, tokens);
    const label = labeller({ [tokens[0]]: 'A', [tokens[1]]: 'B', [tokens[2]]: 'C' });

    for (let i = 0; i < 7; i++) await chat(i % 2 === 0 ? one : two);

    const order = label(conversationBearers());
    expect(order).toHaveLength(7);
    // The shared cursor may start anywhere, but each request takes the account after the previous one's.
    const start = ['A', 'B', 'C'].indexOf(order[0]);
    expect(order).toEqual(Array.from({ length: 7 }, (_, i) => ['A', 'B', 'C'][(start + i) % 3]));
  });

  it('an account disabled through one instance is disabled for the other at once', async () => {
    const [a, b, c] = [fake.createAccessToken(), fake.createAccessToken(), fake.createAccessToken()];
    await upload(one, [a, b, c]);
    const label = labeller({ [a]: 'A', [b]: 'B', [c]: 'C' });
    fake.setTokenStatus(a, 403);

    // Round-robin reaches A within three requests through instance 1; each request still succeeds.
    for (let i = 0; i < 3 && !attemptBearers().includes(a); i++) expect((await chat(one)).choices[0].message.content).toBeTruthy();
    expect(label(attemptBearers())).toContain('A');
    expect(label(conversationBearers())).not.toContain('A');

    const seenByTwo = (await accounts(two)).find((account) => account.id === accountIdFor(a));
    expect(seenByTwo).toMatchObject({ state: 'disabled' });
    fake.reset();
    for (let i = 0; i < 6; i++) await chat(two);
    expect(label(attemptBearers()).sort()).toEqual(['B', 'B', 'B', 'C', 'C', 'C']);
  });

  it('a plan one instance learns from the upstream steers the other to an account that can serve a paid-only model', async () => {
    // The first account's AccessToken still claims the paid plan it has lost: only the upstream's answers tell.
    const lapsed = fake.createAccessToken({ plan: 'plus', persona: 'chatgpt-freeaccount' });
    const paid = fake.createAccessToken({ plan: 'plus' });
    await upload(one, [lapsed, paid]);
    const label = labeller({ [lapsed]: 'lapsed', [paid]: 'paid' });

    // Through instance 1, an ordinary model on both accounts: the lapsed one's sentinel persona says it is free.
    for (let i = 0; i < 2; i++) await chat(one);
    expect(label(conversationBearers()).sort()).toEqual(['lapsed', 'paid']);
    expect((await accounts(two)).find((account) => account.id === accountIdFor(lapsed))).toMatchObject({ plan: 'free', failures: 0 });

    fake.reset();
    const paidOnly = () =>
      http('POST', `${two.url}/v1/chat/completions`, {
        headers: { authorization: `Bearer ${POOL_KEY}` },
        json: { model: 'gpt-4', messages: [{ role: 'user', content: 'x' }] },
      });
    for (let i = 0; i < 2; i++) expect((await paidOnly()).status).toBe(200);
    expect(label(attemptBearers())).toEqual(['paid', 'paid']);
  });

  const signIn = (server: ServerProcess, secret: string, address: string) =>
    http('POST', `${server.url}/admin/login`, { headers: { 'x-forwarded-for': address, accept: 'application/json' }, json: { secret } });
  const cookieOf = (answer: { headers: Record<string, string | string[] | undefined> }) =>
    ([answer.headers['set-cookie'] ?? []].flat().find((cookie) => cookie.startsWith('flowgpt_admin=')) ?? '').split(';')[0];

  it('an admin session made on one instance works on the other, and ends on both when signed out', async () => {
    const signedIn = await signIn(one, ADMIN_KEY, '198.51.100.40');
    expect(signedIn.status).toBe(303);
    const cookie = cookieOf(signedIn);
    expect(cookie).toMatch(/^flowgpt_admin=./);
    const csrf = /name="_csrf" value="([^"]+)"/.exec((await http('GET', `${one.url}/admin`, { headers: { cookie } })).text)?.[1];
    expect(csrf).toBeDefined();

    const listed = await http('GET', `${two.url}/admin/api/tokens`, { headers: { cookie } });
    expect(listed.status).toBe(200);
    const token = fake.createAccessToken();
    const uploaded = await http('POST', `${two.url}/admin/api/tokens`, {
      headers: { cookie, 'x-csrf-token': csrf! },
      json: { tokens: [token] },
    });
    expect(uploaded.json).toEqual({ added: 1, replaced: 0, duplicates: 0, invalid: 0, invalidLines: [] });

    const signedOut = await http('POST', `${two.url}/admin/logout`, { headers: { cookie }, json: { _csrf: csrf } });
    expect(signedOut.status).toBe(303);
    expect((await http('GET', `${one.url}/admin/api/tokens`, { headers: { cookie } })).status).toBe(401);
  });

  it('counts wrong admin secrets across both instances', async () => {
    const address = '198.51.100.41';
    for (let attempt = 0; attempt < 5; attempt++)
      expect((await signIn(attempt % 2 ? two : one, `guess-${attempt}`, address)).status).toBe(401);
    expect((await signIn(two, 'guess-5', address)).status).toBe(429);
    expect((await signIn(one, ADMIN_KEY, address)).status).toBe(429);
    expect((await signIn(one, 'guess', '198.51.100.42')).status).toBe(401);
  });

  it('a model cap learnt by one instance refuses the same account and model on the other', async () => {
    const token = fake.createAccessToken();
    fake.enqueue({
      kind: 'status',
      status: 429,
      body: { detail: { message: 'You have reached the limit', clears_in: 600, code: 'model_cap_exceeded' } },
    });
    const body = { model: 'o1', messages: [{ role: 'user', content: 'x' }] };
    const send = (server: ServerProcess) =>
      http('POST', `${server.url}/v1/chat/completions`, { headers: { authorization: `Bearer ${token}` }, json: body });
    expect((await send(one)).status).toBe(429);
    const refused = await send(two);
    expect(refused.status).toBe(429);
    expect((refused.json as { error: { message: string } }).error.message).toContain('Request limit exceeded');
    expect(fake.conversationRequests()).toHaveLength(1);
  });

  it('both instances are ready and report the same pool', async () => {
    await upload(one, [fake.createAccessToken(), fake.createAccessToken()]);
    for (const server of [one, two]) {
      const ready = await http('GET', `${server.url}/readyz`);
      expect({ status: ready.status, json: ready.json }).toEqual({
        status: 200,
        json: { status: 'ready', store: 'redis', accounts: { total: 2, active: 2, rate_limited: 0, expired: 0, disabled: 0 }, seeds: 0 },
      });
    }
  });

  it('runs each scheduled refresh once across both instances (Redis lock and last-run record)', async () => {
    const refreshTokens = Array.from({ length: 4 }, () => fake.createRefreshToken());
    const logMarks = [one.output().length, two.output().length];
    await upload(one, refreshTokens);
    const exchangesPerToken = () =>
      refreshTokens.map(
        (rt) =>
          fake.requests.filter(
            (request) => request.path === '/oauth/token' && (request.body as { refresh_token?: string }).refresh_token === rt,
          ).length,
      );
    const lastRunSlot = async () => {
      const raw = await redis.hget(`${prefix}meta`, LAST_RUN_FIELD);
      return raw ? (JSON.parse(raw) as { slot: number }).slot : null;
    };
    /** Waits until the recorded run moves past `after`; the run is complete once it is recorded. */
    const nextRun = async (after: number | null) => {
      const deadline = Date.now() + 15 * CRON_PERIOD_MS; // a generous wait, not a speed claim
      for (;;) {
        const slot = await lastRunSlot();
        if (slot !== null && slot !== after) return slot;
        if (Date.now() > deadline)
          throw new Error(
            `No scheduled run recorded after ${after}.\nInstance 1:\n${one.output().slice(-3000)}\nInstance 2:\n${two.output().slice(-3000)}`,
          );
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };

    // The run under way during the upload may or may not include the new accounts: start counting after it.
    let slot = await nextRun(await lastRunSlot());
    let counts = exchangesPerToken();
    const slots: number[] = [];
    for (let period = 0; period < 3; period++) {
      slot = await nextRun(slot);
      slots.push(slot);
      const now = exchangesPerToken();
      // Exactly one exchange per RefreshToken per occurrence: not zero (no run), not two (both instances ran).
      expect(now.map((count, i) => count - counts[i])).toEqual([1, 1, 1, 1]);
      counts = now;
    }
    expect(slots[1] - slots[0]).toBe(CRON_PERIOD_MS);
    expect(slots[2] - slots[1]).toBe(CRON_PERIOD_MS);

    // Wait until the instance that lost each race has logged its skip (on a busy machine that can take a while).
    const logs = () => [one.output().slice(logMarks[0]), two.output().slice(logMarks[1])];
    const skipsLogged = () =>
      slots.every((occurrence) => logs().some((log) => log.includes(`Scheduled refresh of ${new Date(occurrence).toISOString()} skipped`)));
    const skipDeadline = Date.now() + 60_000;
    // (Later occurrences go on meanwhile: an instance that finds the lock taken waits for it, so its skip can come after the next run.)
    while (!skipsLogged() && Date.now() < skipDeadline) await new Promise((resolve) => setTimeout(resolve, 100));
    for (const occurrence of slots) {
      const iso = new Date(occurrence).toISOString();
      const skipped = logs().map((log) => log.includes(`Scheduled refresh of ${iso} skipped`));
      // Both fired; exactly one of them skipped, so exactly one ran.
      expect({ iso, skipped: skipped.filter(Boolean).length }).toEqual({ iso, skipped: 1 });
    }
    const forcedRuns = logs().map((log) => (log.match(/Refresh \(forced\): 4 attempted, 4 refreshed/g) ?? []).length);
    expect(forcedRuns[0] + forcedRuns[1]).toBeGreaterThanOrEqual(3);
  }, 240_000);
});
