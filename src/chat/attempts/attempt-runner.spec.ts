import type { AccountUse } from '../../auth/credential.service';
import type { ApiCredential } from '../../auth/api-credential';
import type { MetricsService } from '../../metrics/metrics.service';
import { AttemptPolicy, AttemptState, type AttemptDecision } from './attempt-policy';
import { AttemptRunner } from './attempt-runner';

describe('AttemptRunner', () => {
  const pool: ApiCredential = { kind: 'pool' };
  const use: AccountUse = { accessToken: 'at-a', poolAccountId: 'a', fingerprintKey: 'a' };

  /** A policy that hands out account `a` and records what the runner tells it; `succeeded` does what the test says. */
  function policyWith(succeeded: () => Promise<void>) {
    const failures: unknown[] = [];
    const policy = {
      begin: (credential: ApiCredential) => new AttemptState(credential, true),
      nextAccount: async () => use,
      modelCap: async () => null,
      succeeded,
      failed: async (_state: AttemptState, _use: AccountUse, _slug: string, failure: { error?: unknown }): Promise<AttemptDecision> => {
        failures.push(failure.error);
        return { retry: false, waitMs: 0, outcome: null, nextAccount: false, exhausted: false };
      },
      givenUp: () => failures.at(-1),
    } as unknown as AttemptPolicy;
    const metrics = { recordRetry: () => undefined } as unknown as MetricsService;
    return { runner: new AttemptRunner(policy, metrics), failures };
  }

  it('answers with the attempt’s result when the pool cannot record the success, and does not count it as a failed attempt', async () => {
    const { runner, failures } = policyWith(() => Promise.reject(new Error('Too many concurrent updates of a in accounts')));
    let attempts = 0;
    const answer = await runner.run(pool, { modelSlug: 'gpt-4o' }, new AbortController().signal, async () => {
      attempts++;
      return 'the answer';
    });
    expect(answer).toBe('the answer');
    expect(attempts).toBe(1);
    expect(failures).toEqual([]);
  });

  it('reports a success to the pool once the attempt has answered', async () => {
    const succeeded = jest.fn(() => Promise.resolve());
    const { runner } = policyWith(succeeded);
    expect(await runner.run(pool, { modelSlug: 'gpt-4o' }, new AbortController().signal, async () => 'the answer')).toBe('the answer');
    expect(succeeded).toHaveBeenCalledWith(use, {});
  });
});
