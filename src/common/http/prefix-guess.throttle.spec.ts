import { Logger } from '@nestjs/common';
import { SharedState } from '../shared-state/shared-state';
import { DownSharedState } from '../shared-state/testing/down-shared-state';
import { couldBeApiPrefix, PrefixGuessThrottle } from './prefix-guess.throttle';

const GUESSES_BEFORE_LOCK = 20;

describe('PrefixGuessThrottle', () => {
  let throttle: PrefixGuessThrottle;
  beforeEach(() => {
    throttle = new PrefixGuessThrottle(new SharedState(null, 'test:'));
  });

  const guess = async (address: string, path: 'entry' | 'api', times = GUESSES_BEFORE_LOCK) => {
    for (let i = 0; i < times; i++) expect(await throttle.judge(address, path, false)).toEqual({ outcome: 'wrong' });
  };

  it('locks a network out of a path after 20 wrong prefixes there, the right one included, when it never used it', async () => {
    await guess('10.0.0.1', 'api');
    expect(await throttle.judge('10.0.0.1', 'api', false)).toEqual({ outcome: 'locked', retryAfterSec: expect.any(Number) });
    expect(await throttle.judge('10.0.0.1', 'api', true)).toMatchObject({ outcome: 'locked' });
    expect(await throttle.judge('10.0.0.2', 'api', true)).toEqual({ outcome: 'admitted' });
  });

  it('never locks the API for single-segment page loads: the entry path has a count of its own (found in review)', async () => {
    expect(await throttle.judge('10.0.0.1', 'api', true)).toEqual({ outcome: 'admitted' });
    await guess('10.0.0.1', 'entry');
    expect(await throttle.judge('10.0.0.1', 'entry', false)).toMatchObject({ outcome: 'locked' });
    expect(await throttle.judge('10.0.0.1', 'api', true)).toEqual({ outcome: 'admitted' });
    expect(await throttle.judge('10.0.0.1', 'api', false)).toEqual({ outcome: 'wrong' });
  });

  it('answers the right prefix as the wrong one while locked, with one store call each: no oracle, not even by timing (found in review)', async () => {
    const shared = new SharedState(null, 'test:');
    const counted = new PrefixGuessThrottle(shared);
    expect(await counted.judge('10.0.0.1', 'api', true)).toEqual({ outcome: 'admitted' });
    for (let i = 0; i < GUESSES_BEFORE_LOCK; i++) await counted.judge('10.0.0.1', 'entry', false);
    const window = shared.attemptWindow('prefix-guess-entry', { max: GUESSES_BEFORE_LOCK, windowMs: 15 * 60_000 });
    const calls = () => [jest.spyOn(window, 'retryAfterSec'), jest.spyOn(window, 'tryRecord')].map((spy) => spy.mock.calls.length);
    const before = calls();
    const right = await counted.judge('10.0.0.1', 'entry', true);
    const afterRight = calls();
    const wrong = await counted.judge('10.0.0.1', 'entry', false);
    const afterWrong = calls();
    expect([right.outcome, wrong.outcome]).toEqual(['locked', 'locked']);
    expect([afterRight[0] + afterRight[1] - before[0] - before[1], afterWrong[0] + afterWrong[1] - afterRight[0] - afterRight[1]]).toEqual([
      1, 1,
    ]);
  });

  it('counts in this process while Redis does not answer: the right prefix is admitted, and guessing is still locked', async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const down = new PrefixGuessThrottle(new DownSharedState());
    expect(await down.judge('10.0.0.1', 'api', true)).toEqual({ outcome: 'admitted' });
    for (let i = 0; i < GUESSES_BEFORE_LOCK; i++) expect(await down.judge('10.0.0.1', 'api', false)).toEqual({ outcome: 'wrong' });
    expect(await down.judge('10.0.0.1', 'api', false)).toMatchObject({ outcome: 'locked' });
    expect(await down.judge('10.0.0.1', 'api', true)).toMatchObject({ outcome: 'locked' });
    expect(await down.judge('10.0.0.2', 'api', true)).toEqual({ outcome: 'admitted' });
    jest.restoreAllMocks();
  });

  it('keeps a network locked out that guessed while Redis did not answer, once Redis answers again (its count there is blank)', async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    const shared = new DownSharedState();
    const flapping = new PrefixGuessThrottle(shared);
    for (let i = 0; i < GUESSES_BEFORE_LOCK; i++) expect(await flapping.judge('10.0.0.1', 'api', false)).toEqual({ outcome: 'wrong' });
    shared.answering = true;
    expect(await flapping.judge('10.0.0.1', 'api', false)).toMatchObject({ outcome: 'locked' });
    expect(await flapping.judge('10.0.0.1', 'api', true)).toMatchObject({ outcome: 'locked' });
    // Only the network that guessed: another one is judged by the store's count, as before the outage.
    expect(await flapping.judge('10.0.0.2', 'api', true)).toEqual({ outcome: 'admitted' });
    expect(await flapping.judge('10.0.0.2', 'api', false)).toEqual({ outcome: 'wrong' });
    jest.restoreAllMocks();
  });

  it('sees no guess in our own routes, the web app pages or segments the prefix cannot be', () => {
    for (const segment of ['admin', 'healthz', 'c', 'gpts', 'library', 'ces', 'ab', 'cdn-cgi', 'with space', 'per%2fcent', 'ünï'])
      expect({ segment, candidate: couldBeApiPrefix(segment) }).toEqual({ segment, candidate: false });
    for (const segment of ['codex', 'prefix-7Hq2', 'a.b_c~d']) expect(couldBeApiPrefix(segment)).toBe(true);
  });
});
