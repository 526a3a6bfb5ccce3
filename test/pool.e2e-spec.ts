import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import request from 'supertest';
import { APIError } from 'openai';
import { accountIdFor, REFRESH_BACKOFF_MS } from '../src/token-pool/account-record';
import type { AccountView } from '../src/token-pool/pool.types';
import { poolServicesOf } from '../src/token-pool/testing/pool-services';
import { FakeClock } from '../src/token-pool/testing/fake-clock';
import { FakeUpstream } from './fake-upstream/fake-upstream';
import { Stack, startStack } from './support/stack';

/**
 * The pool's behaviour seen from the API (issue 4): selection, rate-limit cool-down, disabled accounts and
 * SeedToken stickiness, with real HTTP through the official SDK against the fake upstream.
 */
const POOL_KEY = 'pool-key';
const ADMIN_KEY = 'pool-admin-key-4b1e';

describe('token pool through the chat API', () => {
  let fake: FakeUpstream;
  let stack: Stack | undefined;
  /** The pool's time: cool-downs pass when the test moves it, never by waiting. */
  let clock: FakeClock;

  beforeAll(async () => {
    fake = await FakeUpstream.start();
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.reset());
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  const boot = async (env: Record<string, string>) => {
    clock = new FakeClock(Date.now());
    stack = await startStack({ fakeUpstream: fake, clock, env: { AUTHORIZATION: POOL_KEY, ...env } });
    return stack;
  };
  const pool = () => poolServicesOf(stack!.app);
  const chat = (apiKey = POOL_KEY) =>
    stack!.openai(apiKey).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Which account answers?' }] });
  /** The AccessTokens the upstream's conversation endpoint saw, in order. */
  const conversationBearers = () =>
    fake.conversationRequests().map((request) => String(request.headers.authorization).replace(/^Bearer /, ''));
  /** The AccessToken of every attempt, in order: each starts with chat-requirements, where a refused account already fails. */
  const attemptBearers = () => fake.sentinelRequests().map((request) => String(request.headers.authorization).replace(/^Bearer /, ''));
  /** Every bearer the upstream saw on any route. */
  const allBearers = () => fake.requests.map((request) => String(request.headers.authorization ?? '').replace(/^Bearer /, ''));
  const stateOf = async (token: string) => (await pool().readModel.list()).find((account) => account.id === accountIdFor(token))?.state;
  /** Names tokens in assertion output instead of printing JWTs. */
  const labeller = (names: Record<string, string>) => (tokens: string[]) =>
    tokens.map((token) => names[token] ?? `<unknown ${token.slice(-8)}>`);

  it('RANDOM_TOKEN=false: hands out the accounts in strict round-robin order', async () => {
    await boot({ RANDOM_TOKEN: 'false' });
    const [a, b, c] = [fake.createAccessToken(), fake.createAccessToken(), fake.createAccessToken()];
    expect(await pool().admin.upload([a, b, c])).toEqual({ added: 3, replaced: 0, duplicates: 0, invalid: 0, invalidLines: [] });
    const label = labeller({ [a]: 'A', [b]: 'B', [c]: 'C' });

    for (let i = 0; i < 6; i++) await chat();

    expect(label(conversationBearers())).toEqual(['A', 'B', 'C', 'A', 'B', 'C']);
  });

  it('RANDOM_TOKEN=true: uses every active account and never a disabled one', async () => {
    await boot({ RANDOM_TOKEN: 'true' });
    const [a, b, c, disabled] = [fake.createAccessToken(), fake.createAccessToken(), fake.createAccessToken(), fake.createAccessToken()];
    await pool().admin.upload([a, b, c, disabled]);
    await pool().leaser.report(accountIdFor(disabled), { kind: 'forbidden', reason: 'banned (test)' });
    expect(await stateOf(disabled)).toBe('disabled');
    const label = labeller({ [a]: 'A', [b]: 'B', [c]: 'C', [disabled]: 'disabled' });

    await Promise.all(Array.from({ length: 36 }, () => chat()));

    const used = label(conversationBearers());
    expect(used).toHaveLength(36);
    expect(new Set(used)).toEqual(new Set(['A', 'B', 'C']));
    expect(label(allBearers().filter((bearer) => bearer === disabled))).toEqual([]);
  });

  it('skips a rate-limited account until its reset time, then leases it again', async () => {
    await boot({ RANDOM_TOKEN: 'false' });
    const [a, b] = [fake.createAccessToken(), fake.createAccessToken()];
    await pool().admin.upload([a, b]);
    const label = labeller({ [a]: 'A', [b]: 'B' });
    fake.setTokenStatus(a, 429, { clearsInSec: 60 });

    // Round-robin reaches A within two requests; each one succeeds, A's on B after the 429.
    for (let i = 0; i < 2 && !attemptBearers().includes(a); i++) {
      const completion = await chat();
      expect(completion.choices[0].message.content).toBeTruthy();
    }
    const attempts = label(attemptBearers());
    const limitedAt = attempts.indexOf('A');
    expect(limitedAt).toBeGreaterThanOrEqual(0);
    expect(attempts[limitedAt + 1]).toBe('B');
    expect(label(conversationBearers())).not.toContain('A');
    const limited = (await pool().readModel.list()).find((account) => account.id === accountIdFor(a))!;
    expect(limited.state).toBe('rate_limited');
    // The upstream's reset hint (clears_in 60 s) sets the end of the cool-down.
    expect(limited.rateLimitedUntil).toBeGreaterThanOrEqual(clock.now() + 59_000);

    // While limited, every request goes to B: A is not even tried, even a moment before the reset time.
    fake.reset();
    for (let i = 0; i < 3; i++) await chat();
    expect(label(attemptBearers())).toEqual(['B', 'B', 'B']);
    clock.set(limited.rateLimitedUntil! - 1);
    expect(await stateOf(a)).toBe('rate_limited');
    fake.reset();
    for (let i = 0; i < 2; i++) await chat();
    expect(label(attemptBearers())).toEqual(['B', 'B']);

    // At the reset time (the upstream has lifted its limit too) the account is active again and round-robin uses it.
    fake.clearTokenStatus(a);
    clock.set(limited.rateLimitedUntil!);
    expect(await stateOf(a)).toBe('active');
    fake.reset();
    for (let i = 0; i < 2; i++) await chat();
    expect(label(conversationBearers()).sort()).toEqual(['A', 'B']);
    expect(await stateOf(a)).toBe('active');
  });

  it('disables a RefreshToken account whose token is rejected (invalid_grant), never uses it, and restores it', async () => {
    await boot({ RANDOM_TOKEN: 'false' });
    const revoked = fake.createRefreshToken();
    const flaky = fake.createRefreshToken({ account: { email: 'flaky@example.com' } });
    const healthy = fake.createAccessToken();
    await pool().admin.upload([revoked, flaky, healthy]);
    fake.revokeRefreshToken(revoked);
    const exchangesOf = (rt: string) =>
      fake.requests.filter(
        (request) => request.path === '/oauth/token' && (request.body as { refresh_token?: string }).refresh_token === rt,
      ).length;

    // A revoked RefreshToken: the refresh disables the account.
    const summary = await pool().refresher.refresh({ id: accountIdFor(revoked) });
    expect(summary).toMatchObject({ attempted: 1, disabled: 1, refreshed: 0 });
    const view = (await pool().readModel.list()).find((account) => account.id === accountIdFor(revoked))!;
    expect(view).toMatchObject({ state: 'disabled', stateReason: expect.stringContaining('invalid_grant') });

    // The disabled account is never leased nor exchanged again.
    fake.reset();
    for (let i = 0; i < 6; i++) await chat();
    expect(exchangesOf(revoked)).toBe(0);
    const flakyBearers = conversationBearers().filter((bearer) => bearer !== healthy);
    expect(flakyBearers).toHaveLength(3);
    expect(conversationBearers().filter((bearer) => bearer === healthy)).toHaveLength(3);

    // Restoring it while the auth server still refuses the token: one exchange on the next lease, disabled again.
    expect(await pool().admin.restore(accountIdFor(revoked))).toBe(true);
    expect(await stateOf(revoked)).toBe('active');
    fake.reset();
    for (let i = 0; i < 3; i++) await chat();
    expect(exchangesOf(revoked)).toBe(1);
    expect(await stateOf(revoked)).toBe('disabled');

    // A RefreshToken refused once (the auth server then accepts it again, as after an un-revoke):
    // disabled until restored, then leased with the AccessToken it still has, which is good (no exchange).
    fake.failOAuth(400, 1, { error: 'invalid_grant', error_description: 'Unknown or invalid refresh token.' });
    expect(await pool().refresher.refresh({ id: accountIdFor(flaky), force: true })).toMatchObject({ disabled: 1 });
    expect(await stateOf(flaky)).toBe('disabled');
    fake.reset();
    for (let i = 0; i < 4; i++) await chat();
    expect(new Set(conversationBearers())).toEqual(new Set([healthy]));
    expect(exchangesOf(flaky)).toBe(0);

    expect(await pool().admin.restore(accountIdFor(flaky))).toBe(true);
    fake.reset();
    for (let i = 0; i < 4; i++) await chat();
    expect(exchangesOf(flaky)).toBe(0);
    const fromFlaky = conversationBearers().filter((bearer) => bearer !== healthy);
    expect(fromFlaky).toHaveLength(2);
    expect(new Set(fromFlaky).size).toBe(1);
    expect(emailOf(fromFlaky[0])).toBe('flaky@example.com');
    expect(await stateOf(flaky)).toBe('active');
  });

  it('sends requests to other accounts while the auth server cannot refresh one, and tries it again after a back-off', async () => {
    await boot({ RANDOM_TOKEN: 'false' });
    const waiting = fake.createRefreshToken({ account: { email: 'waiting@example.com' } });
    const healthy = fake.createAccessToken();
    await pool().admin.upload([waiting, healthy]);
    fake.failOAuth(503, 1_000);
    const exchanges = () => fake.requests.filter((request) => request.path === '/oauth/token').length;

    for (let i = 0; i < 6; i++) await chat();
    // One exchange failed; the other requests went straight to the healthy account instead of trying (and waiting) again.
    expect(exchanges()).toBe(1);
    expect(new Set(conversationBearers())).toEqual(new Set([healthy]));
    expect(conversationBearers()).toHaveLength(6);

    fake.reset();
    clock.advance(REFRESH_BACKOFF_MS[0]);
    for (let i = 0; i < 4; i++) await chat();
    expect(exchanges()).toBe(1);
    expect(
      conversationBearers()
        .filter((bearer) => bearer !== healthy)
        .map(emailOf),
    ).toEqual(['waiting@example.com', 'waiting@example.com']);
  });

  it('continues a conversation on the pool account it lives on, whatever the rotation says; 409 when that account is out', async () => {
    await boot({ RANDOM_TOKEN: 'false', HISTORY_DISABLED: 'false' });
    const [a, b, c] = [fake.createAccessToken(), fake.createAccessToken(), fake.createAccessToken()];
    await pool().admin.upload([a, b, c]);
    const label = labeller({ [a]: 'A', [b]: 'B', [c]: 'C' });
    type Continued = { conversation_id?: string; message_id?: string };
    const send = (ids: Continued = {}) =>
      request(stack!.url)
        .post('/v1/chat/completions')
        .set('authorization', `Bearer ${POOL_KEY}`)
        .send({
          model: 'gpt-4o',
          messages: [{ role: 'user', content: 'And then?' }],
          ...(ids.conversation_id ? { conversation_id: ids.conversation_id, parent_message_id: ids.message_id } : {}),
        });

    const first = await send();
    expect(first.status).toBe(200);
    let ids = first.body as Continued;
    expect(ids.conversation_id).toBeTruthy();
    for (let turn = 0; turn < 4; turn++) {
      const next = await send(ids);
      expect({ turn, status: next.status }).toEqual({ turn, status: 200 });
      expect(next.body.conversation_id).toBe(ids.conversation_id);
      ids = next.body as Continued;
    }
    expect(label(conversationBearers())).toEqual(['A', 'A', 'A', 'A', 'A']);

    // Its account removed: a clear 409 naming conversation_id, rather than a 404 from another account.
    await pool().admin.remove(accountIdFor(a));
    const orphan = await send(ids);
    expect(orphan.status).toBe(409);
    expect(orphan.body.error).toMatchObject({ type: 'invalid_request_error', code: 'conversation_unavailable', param: 'conversation_id' });
  });

  it("never shows a pool key user an account's token that the upstream echoed in an error", async () => {
    await boot({});
    const token = fake.createAccessToken();
    await pool().admin.upload([token]);
    fake.enqueue({ kind: 'status', status: 400, body: { detail: `Bad request for Authorization: Bearer ${token} (raw ${token})` } });

    const refused = await chat().catch((error: unknown) => error);

    expect(refused).toBeInstanceOf(APIError);
    const message = String((refused as APIError).message);
    expect(message).toContain('Bearer [redacted]');
    for (let at = 0; at + 16 <= token.length; at += 8) expect(message).not.toContain(token.slice(at, at + 16));
  });

  it('an answer stream with nothing in it is retried on the next account, which stays in the pool', async () => {
    await boot({ RANDOM_TOKEN: 'false' });
    const [a, b] = [fake.createAccessToken(), fake.createAccessToken()];
    await pool().admin.upload([a, b]);
    const label = labeller({ [a]: 'A', [b]: 'B' });
    fake.enqueue({ kind: 'no_answer' });

    const answer = await chat();

    expect(answer.choices[0].message.content).toBeTruthy();
    expect(label(conversationBearers())).toEqual(['A', 'B']);
    expect(await stateOf(a)).toBe('active');
  });

  it('rides out a transient upstream 5xx on a one-account pool, as an own token does, and keeps the account', async () => {
    await boot({});
    const only = fake.createAccessToken();
    await pool().admin.upload([only]);
    fake.enqueue({ kind: 'status', status: 502, body: { detail: 'Bad gateway' } });
    fake.enqueue({ kind: 'text', text: 'Recovered.' });

    const answer = await chat();

    expect(answer.choices[0].message.content).toBe('Recovered.');
    expect(fake.conversationRequests().length).toBe(2);
    expect(await stateOf(only)).toBe('active');
  });

  it('answers the upstream failure itself, not 503 no_available_account, when every attempt fails without blaming an account', async () => {
    await boot({ RETRY_TIMES: '2' });
    await pool().admin.upload([fake.createAccessToken(), fake.createAccessToken()]);
    for (let i = 0; i < 3; i++) fake.enqueue({ kind: 'status', status: 502, body: { detail: 'Bad gateway' } });

    const response = await request(stack!.url)
      .post('/v1/chat/completions')
      .set('authorization', `Bearer ${POOL_KEY}`)
      .send({ model: 'gpt-4o', messages: [{ role: 'user', content: 'q' }] });

    expect({ status: response.status, code: response.body.error?.code }).toEqual({ status: 502, code: 'upstream_status' });
    expect(fake.conversationRequests().length).toBe(3);
  });

  it('answers a paid-only model from a paid account when the rotation first hands out a free one, which stays in the pool', async () => {
    await boot({ RANDOM_TOKEN: 'false' });
    // Its AccessToken still claims the paid plan it has lost: only the upstream's answer tells.
    const free = fake.createAccessToken({ plan: 'plus', persona: 'chatgpt-freeaccount' });
    const paid = fake.createAccessToken({ persona: 'chatgpt-paid' });
    await pool().admin.upload([free, paid]);
    const label = labeller({ [free]: 'free', [paid]: 'paid' });
    const ask = (i: number) =>
      request(stack!.url)
        .post('/v1/chat/completions')
        .set('authorization', `Bearer ${POOL_KEY}`)
        .send({ model: 'gpt-4', messages: [{ role: 'user', content: `q${i}` }] });

    // Round-robin hands out the free account first, then the paid one: the answer must not depend on it.
    const statuses = [(await ask(0)).status, (await ask(1)).status];

    expect(statuses).toEqual([200, 200]);
    expect(label(conversationBearers())).toEqual(['paid', 'paid']);
    // The free account is asked once: its refusal teaches the pool its plan.
    expect(label(attemptBearers())).toEqual(['free', 'paid', 'paid']);
    expect(await stateOf(free)).toBe('active');
  });

  it('answers a paid-only model from the one paid account behind more free ones than RETRY_TIMES, learning each free plan once', async () => {
    await boot({ RANDOM_TOKEN: 'false', RETRY_TIMES: '2', ADMIN_KEY });
    // Two free accounts whose AccessTokens say so, two whose tokens still claim the plan they have lost, then the paid one.
    const claimedFree = [fake.createAccessToken({ plan: 'free' }), fake.createAccessToken({ plan: 'free' })];
    const lapsed = [0, 1].map(() => fake.createAccessToken({ plan: 'plus', persona: 'chatgpt-freeaccount' }));
    const paid = fake.createAccessToken({ plan: 'plus' });
    const tokens = [...claimedFree, ...lapsed, paid];
    await request(stack!.url).post('/admin/api/tokens').set('authorization', `Bearer ${ADMIN_KEY}`).send({ tokens }).expect(200);
    const label = labeller({
      [claimedFree[0]]: 'free-1',
      [claimedFree[1]]: 'free-2',
      [lapsed[0]]: 'lapsed-1',
      [lapsed[1]]: 'lapsed-2',
      [paid]: 'paid',
    });
    const ask = (model: string) =>
      request(stack!.url)
        .post('/v1/chat/completions')
        .set('authorization', `Bearer ${POOL_KEY}`)
        .send({ model, messages: [{ role: 'user', content: 'Which account answers?' }] });
    const listed = async () =>
      (await request(stack!.url).get('/admin/api/tokens').set('authorization', `Bearer ${ADMIN_KEY}`).expect(200)).body
        .data as AccountView[];

    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await ask('gpt-4')).status);

    expect(statuses).toEqual([200, 200, 200, 200]);
    expect(label(conversationBearers())).toEqual(['paid', 'paid', 'paid', 'paid']);
    // Accounts known to be free are never asked; one whose token claimed more, once, and then the pool knows.
    const asked = label(attemptBearers()).filter((name) => name !== 'paid');
    expect(asked.filter((name) => name.startsWith('free'))).toEqual([]);
    expect(new Set(asked).size).toBe(asked.length);
    // Refusing a paid-only model is no failure of the account.
    expect((await listed()).map(({ state, failures }) => ({ state, failures }))).toEqual(
      tokens.map(() => ({ state: 'active', failures: 0 })),
    );

    // Other models still go round every account, and each answer's sentinel persona teaches its plan too.
    fake.reset();
    for (let i = 0; i < tokens.length; i++) expect((await ask('gpt-4o')).status).toBe(200);
    expect(new Set(label(conversationBearers()))).toEqual(new Set(['free-1', 'free-2', 'lapsed-1', 'lapsed-2', 'paid']));
    const plans = new Map((await listed()).map((account) => [account.id, account.plan]));
    expect(tokens.map((token) => plans.get(accountIdFor(token)))).toEqual(['free', 'free', 'free', 'free', 'plus']);

    fake.reset();
    expect((await ask('gpt-4')).status).toBe(200);
    expect(label(attemptBearers())).toEqual(['paid']);
  });

  it('answers 404 model_not_found for a paid-only model when every pool account has a free plan', async () => {
    await boot({ RANDOM_TOKEN: 'false' });
    await pool().admin.upload([fake.createAccessToken({ persona: 'chatgpt-freeaccount' }), fake.createAccessToken({ plan: 'free' })]);

    const response = await request(stack!.url)
      .post('/v1/chat/completions')
      .set('authorization', `Bearer ${POOL_KEY}`)
      .send({ model: 'gpt-4', messages: [{ role: 'user', content: 'q' }] });

    expect({ status: response.status, code: response.body.error?.code }).toEqual({ status: 404, code: 'model_not_found' });
    expect({ attempts: fake.sentinelRequests().length, conversations: fake.conversationRequests().length }).toEqual({
      attempts: 2,
      conversations: 0,
    });
  });

  it('AUTO_SEED=false: a created seed sticks to one account, moves when it is disabled, and keeps the binding across a restart', async () => {
    await boot({ RANDOM_TOKEN: 'false', AUTO_SEED: 'false' });
    const tokens = [fake.createAccessToken(), fake.createAccessToken(), fake.createAccessToken()];
    await pool().admin.upload(tokens);
    const seed = await pool().seeds.createSeed();
    const boundAccount = async () => (await pool().seeds.listSeeds())[0].accountId;
    const tokenOf = (accountId: string | null) => tokens.find((token) => accountIdFor(token) === accountId)!;

    const first = await boundAccount();
    expect(first).not.toBeNull();
    for (let i = 0; i < 6; i++) await chat(seed);
    expect(new Set(conversationBearers())).toEqual(new Set([tokenOf(first)]));
    expect(conversationBearers()).toHaveLength(6);

    // An unknown seed is refused before anything reaches the upstream.
    fake.reset();
    const refused = await chat('never-created-seed').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(APIError);
    expect((refused as APIError).status).toBe(401);
    expect(fake.requests).toHaveLength(0);

    // Its account gets banned upstream: the request still succeeds, on another account the seed now sticks to.
    fake.setTokenStatus(tokenOf(first), 403);
    const moved = await chat(seed);
    expect(moved.choices[0].message.content).toBeTruthy();
    expect(await stateOf(tokenOf(first))).toBe('disabled');
    const second = await boundAccount();
    expect(second).not.toBeNull();
    expect(second).not.toBe(first);
    fake.reset();
    for (let i = 0; i < 6; i++) await chat(seed);
    expect(new Set(conversationBearers())).toEqual(new Set([tokenOf(second)]));

    // The binding lives in the data directory: a restarted app keeps it.
    await stack!.stopApp();
    await stack!.restartApp();
    expect(await boundAccount()).toBe(second);
    fake.reset();
    for (let i = 0; i < 4; i++) await chat(seed);
    expect(new Set(conversationBearers())).toEqual(new Set([tokenOf(second)]));
    expect(conversationBearers()).toHaveLength(4);
  });

  it("continues a seed's conversation with a paid-only model on the seed's account, which holds it, while the pool believes that account free", async () => {
    await boot({ RANDOM_TOKEN: 'false', HISTORY_DISABLED: 'false' });
    const own = fake.createAccessToken();
    await pool().admin.upload([own]);
    const seed = await pool().seeds.createSeed();
    const other = fake.createAccessToken();
    await pool().admin.upload([other]);
    const label = labeller({ [own]: 'own', [other]: 'other' });
    const send = (model: string, ids: { conversation_id?: string; message_id?: string } = {}) =>
      request(stack!.url)
        .post('/v1/chat/completions')
        .set('authorization', `Bearer ${seed}`)
        .send({
          model,
          messages: [{ role: 'user', content: 'And then?' }],
          ...(ids.conversation_id ? { conversation_id: ids.conversation_id, parent_message_id: ids.message_id } : {}),
        });

    const first = await send('gpt-4o');
    expect(first.status).toBe(200);
    expect(first.body.conversation_id).toBeTruthy();
    // The plan memory is a hint: the pool has come to think the account free (its plan lapsed for a while, say),
    // while the upstream serves it the paid-only model again.
    await pool().leaser.learnPlan(accountIdFor(own), 'free', undefined);
    expect((await pool().readModel.list()).find((account) => account.id === accountIdFor(own))?.plan).toBe('free');

    const next = await send('gpt-4', first.body);

    // Another account does not hold the conversation: there the upstream answers 404, and no other account is tried.
    expect({ status: next.status, conversation: next.body.conversation_id }).toEqual({
      status: 200,
      conversation: first.body.conversation_id,
    });
    expect(label(conversationBearers())).toEqual(['own', 'own']);
  });
});

function emailOf(accessToken: string): string | undefined {
  const claims = JSON.parse(Buffer.from(accessToken.split('.')[1], 'base64url').toString('utf8')) as Record<string, { email?: string }>;
  return claims['https://api.openai.com/profile']?.email;
}

/** A reference install moved over: its data/ folder (token.txt, seed_map.json) is this DATA_DIR at the first start. */
describe("the reference's data folder", () => {
  let stack: Stack;
  afterAll(() => stack.close());

  it('imports token.txt and seed_map.json, so a shared user keeps its seed and its account', async () => {
    stack = await startStack({ env: { AUTO_SEED: 'false' } });
    await stack.stopApp();
    const pooled = stack.fake.createAccessToken({ plan: 'plus' });
    const other = stack.fake.createAccessToken({ plan: 'plus' });
    await rm(join(stack.dataDir, 'accounts.json'), { force: true });
    await writeFile(join(stack.dataDir, 'token.txt'), `${other}\n${pooled}\n`);
    await writeFile(join(stack.dataDir, 'seed_map.json'), JSON.stringify({ 'moved-seed-1': { token: pooled, conversations: [] } }));
    await stack.restartApp({ AUTO_SEED: 'false' });

    // As an API key (the reference took it too), on the account its token names, every time.
    for (let i = 0; i < 3; i++) {
      await stack.openai('moved-seed-1').chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    }
    const used = stack.fake.conversationRequests().map((sent) => sent.headers.authorization);
    expect(used).toEqual([`Bearer ${pooled}`, `Bearer ${pooled}`, `Bearer ${pooled}`]);
  });
});
