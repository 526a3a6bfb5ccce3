import { StoreUnavailableError } from '../../common/errors/store-unavailable.error';
import { ApiError, type UpstreamStep } from '../../common/errors/api-error';
import { clientErrorOf, UpstreamError, UpstreamErrorKind } from '../../common/errors/upstream-error';
import type { AccountUse, AcquireOptions, CredentialService } from '../../auth/credential.service';
import type { ApiCredential } from '../../auth/api-credential';
import { testConfig } from '../../config/test-config';
import type { ModelCapTracker } from '../model-cap.tracker';
import { AttemptFailure, AttemptPolicy, BACKOFF_STEP_MS, decide } from './attempt-policy';

const MAX_ATTEMPTS = 4;
const upstream = (kind: UpstreamErrorKind, step: UpstreamStep = 'conversation', retryAfter?: number): AttemptFailure => ({
  error: new UpstreamError({ kind, step, status: kind === 'rate_limited' ? 429 : undefined, retryAfter }),
});
/** A paid-only model on an account whose sentinel persona is not paid. */
const freePlan = (): AttemptFailure => ({ error: new UpstreamError({ kind: 'model_not_in_plan', step: 'requirements', model: 'gpt-4' }) });
const modelCap: AttemptFailure = { modelCap: ApiError.of('model_cap', { slug: 'gpt-4o', until: 'later' }, { retryAfter: 30 }) };

describe('decide: the retry policy as a table', () => {
  // failure, rotates?, attempt no. → retry?, wait ms, outcome reported, next account?, attempts used up?
  it.each<[string, AttemptFailure, boolean, number, boolean, number, string | null, boolean, boolean]>([
    ['429 on a pool key', upstream('rate_limited', 'conversation', 42), true, 0, true, 0, 'rate_limited', true, false],
    ['429 on a fixed token', upstream('rate_limited'), false, 0, false, 0, 'rate_limited', false, false],
    ['401 on a pool key', upstream('unauthorized'), true, 1, true, 0, 'unauthorized', true, false],
    ['401 on a fixed token', upstream('unauthorized'), false, 0, false, 0, 'unauthorized', false, false],
    ['deactivated on a pool key', upstream('deactivated'), true, 0, true, 0, 'forbidden', true, false],
    ['unsendable token on a pool key', upstream('credential_invalid', 'requirements'), true, 0, true, 0, 'unusable', true, false],
    ['stalled conversation on a pool key', upstream('first_byte_timeout'), true, 0, true, 0, 'failed', true, false],
    ['stalled conversation on a fixed token', upstream('timeout'), false, 0, false, 0, 'failed', false, false],
    ['5xx on a fixed token, first attempt', upstream('server_error'), false, 0, true, BACKOFF_STEP_MS, null, false, false],
    ['5xx on a fixed token, third attempt', upstream('server_error'), false, 2, true, 3 * BACKOFF_STEP_MS, null, false, false],
    ['5xx on a pool key', upstream('server_error'), true, 1, true, 2 * BACKOFF_STEP_MS, null, true, false],
    ['requirements timeout on a fixed token', upstream('timeout', 'requirements'), false, 0, true, BACKOFF_STEP_MS, null, false, false],
    [
      'Cloudflare challenge on a fixed token (next attempt may take another route)',
      upstream('cf_challenge'),
      false,
      0,
      true,
      BACKOFF_STEP_MS,
      null,
      false,
      false,
    ],
    ['Cloudflare challenge on a pool key (another route)', upstream('cf_challenge'), true, 0, true, 0, null, true, false],
    ['5xx on the last attempt', upstream('server_error'), true, MAX_ATTEMPTS - 1, false, 0, null, false, true],
    ['429 on the last attempt of a pool key', upstream('rate_limited'), true, MAX_ATTEMPTS - 1, false, 0, 'rate_limited', false, true],
    ['upstream 404', upstream('not_found'), true, 0, false, 0, null, false, false],
    ['upstream 413 (too long)', upstream('too_large'), true, 0, false, 0, null, false, false],
    ['other upstream 4xx', upstream('rejected'), true, 0, false, 0, null, false, false],
    ['a client error (model not found)', { error: ApiError.modelNotFound('gpt-x') }, true, 0, false, 0, null, false, false],
    ['a bug', { error: new TypeError('boom') }, true, 0, false, 0, null, false, false],
    ['model cap on a pool key', modelCap, true, 0, true, 0, null, true, false],
    ['model cap on a fixed token', modelCap, false, 0, false, 0, null, false, false],
    ['model cap on the last attempt of a pool key', modelCap, true, MAX_ATTEMPTS - 1, false, 0, null, false, true],
    ['paid-only model on a free pool account', freePlan(), true, 0, true, 0, null, true, false],
    ['paid-only model on a free fixed token', freePlan(), false, 0, false, 0, null, false, false],
    ['paid-only model on the last attempt of a pool key', freePlan(), true, MAX_ATTEMPTS - 1, false, 0, null, false, true],
  ])('%s', (_name, failure, rotates, attempt, retry, waitMs, outcome, nextAccount, exhausted) => {
    const decision = decide(failure, rotates, attempt, MAX_ATTEMPTS);
    expect({
      retry: decision.retry,
      waitMs: decision.waitMs,
      outcome: decision.outcome?.kind ?? null,
      nextAccount: decision.nextAccount,
      exhausted: decision.exhausted,
    }).toEqual({
      retry,
      waitMs,
      outcome,
      nextAccount,
      exhausted,
    });
  });

  it('remembers the reset time of a rate-limited account for the model-cap memory', () => {
    expect(decide(upstream('rate_limited', 'conversation', 42), true, 0, MAX_ATTEMPTS).modelCapSec).toBe(42);
    expect(decide(upstream('server_error'), true, 0, MAX_ATTEMPTS).modelCapSec).toBeUndefined();
    // A sentinel call's 429 limits the account (or its address), not the model (upstream-protocol.md §10.3).
    for (const step of ['requirements', 'sentinel_prepare', 'sentinel_finalize'] as const) {
      const decision = decide(upstream('rate_limited', step, 3600), true, 0, MAX_ATTEMPTS);
      expect(decision.outcome).toMatchObject({ kind: 'rate_limited' });
      expect(decision.modelCapSec).toBeUndefined();
    }
  });
});

describe('AttemptPolicy', () => {
  const pool: ApiCredential = { kind: 'pool' };
  const token: ApiCredential = { kind: 'access_token', token: 'fk-token' };
  const useOf = (id: string): AccountUse => ({ accessToken: `at-${id}`, poolAccountId: id, fingerprintKey: id });

  function setup(accounts: string[]) {
    const reports: [string | undefined, string][] = [];
    const learnt: [string | undefined, string][] = [];
    const excluded: string[][] = [];
    const paidOnlyAsked: (boolean | undefined)[] = [];
    const caps: [string, string, number | undefined][] = [];
    const credentials = {
      rotates: (credential: ApiCredential) => credential.kind === 'pool',
      acquire: async (
        _credential: ApiCredential,
        tried: ReadonlySet<string>,
        { preferredAccountId: preferred, paidOnly }: AcquireOptions = {},
      ) => {
        excluded.push([...tried]);
        paidOnlyAsked.push(paidOnly);
        if (preferred) return accounts.includes(preferred) ? useOf(preferred) : null;
        const id = accounts.find((account) => !tried.has(account));
        return id ? useOf(id) : null;
      },
      report: async (use: AccountUse, outcome: { kind: string }) => void reports.push([use.poolAccountId, outcome.kind]),
      learnPlan: async (use: AccountUse, tier: string) => void learnt.push([use.poolAccountId, tier]),
    } as unknown as CredentialService;
    const modelCaps = {
      refusal: async () => null,
      record: async (key: string, slug: string, seconds: number | undefined) => void caps.push([key, slug, seconds]),
    } as unknown as ModelCapTracker;
    return {
      policy: new AttemptPolicy(testConfig({ retryTimes: 3 }), credentials, modelCaps),
      reports,
      learnt,
      credentials,
      excluded,
      paidOnlyAsked,
      caps,
    };
  }

  it('never hands a request an account it already tried, and answers 503 once none is left', async () => {
    const { policy, excluded } = setup(['a', 'b']);
    const state = policy.begin(pool);
    expect((await policy.nextAccount(state)).poolAccountId).toBe('a');
    await policy.failed(state, useOf('a'), 'gpt-4o', upstream('unauthorized'));
    expect((await policy.nextAccount(state)).poolAccountId).toBe('b');
    await policy.failed(state, useOf('b'), 'gpt-4o', upstream('unauthorized'));
    const none = await policy.nextAccount(state).catch((error: unknown) => error);
    expect(excluded).toEqual([[], ['a'], ['a', 'b']]);
    expect(none).toMatchObject({ code: 'no_available_account' });
    expect((none as ApiError).getStatus()).toBe(503);
    expect((none as ApiError).message).toContain('2 tried');
  });

  it('reports the account outcome to the pool and a rate limit to the model-cap memory', async () => {
    const { policy, reports, caps } = setup(['a']);
    const state = policy.begin(pool);
    const use = await policy.nextAccount(state);
    await policy.failed(state, use, 'gpt-4o', upstream('rate_limited', 'conversation', 42));
    await policy.failed(state, use, 'gpt-4o', upstream('server_error'));
    await policy.succeeded(use);
    expect(reports).toEqual([
      ['a', 'rate_limited'],
      ['a', 'success'],
    ]);
    expect(caps).toEqual([['a', 'gpt-4o', 42]]);
  });

  it("keeps a Team workspace's model caps apart from the same account's own", async () => {
    const { policy, caps } = setup(['a']);
    const state = policy.begin(pool);
    await policy.failed(state, { ...useOf('a'), chatgptAccountId: 'team-1' }, 'gpt-4o', upstream('rate_limited', 'conversation', 42));
    await policy.failed(state, useOf('a'), 'gpt-4o', upstream('rate_limited', 'conversation', 7));
    expect(caps).toEqual([
      ['a/team-1', 'gpt-4o', 42],
      ['a', 'gpt-4o', 7],
    ]);
  });

  it('gives up with the pool’s 503 when every pooled account was refused, with the last reset time', async () => {
    const { policy } = setup(['a', 'b', 'c', 'd']);
    const state = policy.begin(pool);
    let decision;
    do {
      const use = await policy.nextAccount(state);
      decision = await policy.failed(state, use, 'gpt-4o', upstream('rate_limited', 'conversation', 7));
    } while (decision.retry);
    const error = policy.givenUp(state, decision) as ApiError;
    expect(error.getStatus()).toBe(503);
    expect(error.details.retryAfter).toBe(7);
    expect(error.message).toContain('4 tried, the last one failed with: The upstream rate limit was reached');
  });

  it('gives up with the failure itself for a fixed token, or when the failure blames no account', async () => {
    const { policy } = setup(['a']);
    const fixed = policy.begin(token);
    const limited = upstream('rate_limited');
    expect(policy.givenUp(fixed, await policy.failed(fixed, useOf('a'), 'gpt-4o', limited))).toBe((limited as { error: unknown }).error);

    const rotating = policy.begin(pool);
    let decision;
    const failure = upstream('server_error');
    do decision = await policy.failed(rotating, useOf('a'), 'gpt-4o', failure);
    while (decision.retry);
    expect(policy.givenUp(rotating, decision)).toBe((failure as { error: unknown }).error);
  });

  it('tries an account again, after the back-off, when no untried one is left and its failure blamed nobody', async () => {
    const { policy, excluded } = setup(['a']);
    const state = policy.begin(pool);
    const first = await policy.nextAccount(state);
    const decision = await policy.failed(state, first, 'gpt-4o', upstream('server_error'));
    expect(decision).toMatchObject({ retry: true, waitMs: BACKOFF_STEP_MS });
    expect((await policy.nextAccount(state)).poolAccountId).toBe('a');
    // An untried account first, then the tried one.
    expect(excluded).toEqual([[], ['a'], []]);
  });

  it('never tries again an account the pool was told about, or that cannot serve the model', async () => {
    for (const failure of [upstream('rate_limited'), upstream('first_byte_timeout'), modelCap, freePlan()]) {
      const { policy } = setup(['a']);
      const state = policy.begin(pool);
      await policy.failed(state, await policy.nextAccount(state), 'gpt-4', failure);
      await expect(policy.nextAccount(state)).rejects.toBeDefined();
    }
  });

  it('gives up with the last upstream failure, not the pool’s 503, when no account was refused', async () => {
    const { policy } = setup(['a', 'b']);
    const state = policy.begin(pool);
    let decision;
    do decision = await policy.failed(state, await policy.nextAccount(state), 'gpt-4o', upstream('no_answer'));
    while (decision.retry);
    expect(state.attempt).toBe(4);
    expect(policy.givenUp(state, decision)).toMatchObject({ kind: 'no_answer' });

    // Once an account was refused, the pool is the problem: 503, naming the refusal.
    const { policy: mixed } = setup(['a', 'b']);
    const refused = mixed.begin(pool);
    await mixed.failed(refused, await mixed.nextAccount(refused), 'gpt-4o', upstream('rate_limited', 'conversation', 9));
    do decision = await mixed.failed(refused, await mixed.nextAccount(refused), 'gpt-4o', upstream('server_error'));
    while (decision.retry);
    const error = mixed.givenUp(refused, decision) as ApiError;
    expect(error.getStatus()).toBe(503);
    expect(error.details.retryAfter).toBe(9);
  });

  it('moves a paid-only model on to the next account when one has a free plan, teaching the pool its plan and nothing else', async () => {
    const { policy, reports, learnt } = setup(['free', 'paid']);
    const state = policy.begin(pool);
    const free = await policy.nextAccount(state);
    expect(await policy.failed(state, free, 'gpt-4', freePlan())).toMatchObject({ retry: true, waitMs: 0, nextAccount: true });
    expect((await policy.nextAccount(state)).poolAccountId).toBe('paid');
    expect(reports).toEqual([]);
    expect(learnt).toEqual([['free', 'free']]);
  });

  it('decides and reports an attempt as ever when the store does not take the plan it saw', async () => {
    const { policy, reports, credentials } = setup(['a', 'b']);
    jest
      .spyOn(credentials, 'learnPlan')
      .mockRejectedValue(new StoreUnavailableError('Redis at redis://cache', new Error('Command timed out')));
    const state = policy.begin(pool);
    const a = await policy.nextAccount(state);
    expect(await policy.failed(state, a, 'gpt-4', upstream('rate_limited'), { plan: 'paid' })).toMatchObject({ retry: true });
    expect(reports).toEqual([['a', 'rate_limited']]);
    await expect(policy.succeeded(useOf('b'), { plan: 'free' })).resolves.toBeUndefined();
  });

  it('asks the pool for accounts whose plan may serve a paid-only model, and tells it the plan every attempt saw', async () => {
    const { policy, learnt, paidOnlyAsked } = setup(['a', 'b']);
    await policy.nextAccount(policy.begin(pool));
    const state = policy.begin(pool, { paidOnly: true });
    const a = await policy.nextAccount(state);
    expect(paidOnlyAsked).toEqual([false, true]);

    await policy.failed(state, a, 'gpt-4', upstream('server_error'), { plan: 'paid' });
    await policy.failed(state, a, 'gpt-4', upstream('server_error'));
    await policy.succeeded(useOf('b'), { plan: 'free' });
    await policy.succeeded(useOf('b'));
    expect(learnt).toEqual([
      ['a', 'paid'],
      ['b', 'free'],
    ]);
  });

  it('answers 404 model_not_found for a paid-only model once every pool account tried has a free plan', async () => {
    const { policy } = setup(['a', 'b']);
    const state = policy.begin(pool);
    for (const id of ['a', 'b']) {
      const use = await policy.nextAccount(state);
      expect(use.poolAccountId).toBe(id);
      await policy.failed(state, use, 'gpt-4', freePlan());
    }
    const none = await policy.nextAccount(state).catch((error: unknown) => error);
    expect(clientErrorOf(none)).toMatchObject({ code: 'model_not_found' });
    expect(clientErrorOf(none)?.getStatus()).toBe(404);

    // The same when the attempts run out first.
    const { policy: short } = setup(['a', 'b', 'c', 'd', 'e']);
    const limited = short.begin(pool);
    let decision;
    do decision = await short.failed(limited, await short.nextAccount(limited), 'gpt-4', freePlan());
    while (decision.retry);
    expect(clientErrorOf(short.givenUp(limited, decision))?.getStatus()).toBe(404);

    // A fixed token gets the 404 at once.
    const fixed = policy.begin(token);
    const refused = freePlan();
    expect(policy.givenUp(fixed, await policy.failed(fixed, useOf('a'), 'gpt-4', refused))).toBe((refused as { error: unknown }).error);
  });

  it('keeps a pinned pool request on its account: never rotates, and answers 409 previous_response_unavailable once it is gone', async () => {
    const { policy } = setup(['a', 'b', 'c']);
    const pinned = policy.begin(pool, { preferredAccountId: 'b' });
    expect(pinned.rotates).toBe(false);
    expect((await policy.nextAccount(pinned)).poolAccountId).toBe('b');
    // A failure that blames nobody is retried, on the same account.
    expect(await policy.failed(pinned, useOf('b'), 'gpt-4o', upstream('server_error'))).toMatchObject({ retry: true, nextAccount: false });
    expect((await policy.nextAccount(pinned)).poolAccountId).toBe('b');
    // One that blames the account is not moved elsewhere, where the conversation does not exist.
    expect(await policy.failed(pinned, useOf('b'), 'gpt-4o', upstream('rate_limited'))).toMatchObject({ retry: false });

    const gone = await policy.nextAccount(policy.begin(pool, { preferredAccountId: 'z' })).catch((error: unknown) => error);
    expect(gone).toBeInstanceOf(ApiError);
    expect((gone as ApiError).getStatus()).toBe(409);
    expect(gone).toMatchObject({ code: 'previous_response_unavailable' });

    // Only a pool key is pinned: other credentials keep their own account choice.
    expect(policy.begin(token, { preferredAccountId: 'b' }).preferredAccountId).toBeUndefined();
  });
});
