import { SharedState } from '../shared-state/shared-state';
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

  it('keeps admitting the right prefix from a network that used it before the lock, and only that one (found in review)', async () => {
    expect(await throttle.judge('10.0.0.1', 'api', true)).toEqual({ outcome: 'admitted' });
    await guess('10.0.0.1', 'api');
    expect(await throttle.judge('10.0.0.1', 'api', true)).toEqual({ outcome: 'admitted' });
    expect(await throttle.judge('10.0.0.1', 'api', false)).toMatchObject({ outcome: 'locked' });
    // The proof is the network's: one IPv6 /64 is one network, a neighbouring one is not.
    expect(await throttle.judge('2001:db8:0:1::1', 'api', true)).toEqual({ outcome: 'admitted' });
    await guess('2001:db8:0:1::2', 'api');
    expect(await throttle.judge('2001:db8:0:1::3', 'api', true)).toEqual({ outcome: 'admitted' });
    await guess('2001:db8:0:2::2', 'api');
    expect(await throttle.judge('2001:db8:0:2::3', 'api', true)).toMatchObject({ outcome: 'locked' });
  });

  it("writes a network's proof once, not on every API request", async () => {
    const shared = new SharedState(null, 'test:');
    const counted = new PrefixGuessThrottle(shared);
    const writes = jest.spyOn(shared.keyValues('prefix-proof'), 'set');
    for (let i = 0; i < 5; i++) expect(await counted.judge('10.0.0.1', 'api', true)).toEqual({ outcome: 'admitted' });
    expect(writes).toHaveBeenCalledTimes(1);
  });

  it('sees no guess in our own routes, the web app pages or segments the prefix cannot be', () => {
    for (const segment of ['admin', 'healthz', 'c', 'gpts', 'library', 'ces', 'ab', 'cdn-cgi', 'with space', 'per%2fcent', 'ünï'])
      expect({ segment, candidate: couldBeApiPrefix(segment) }).toEqual({ segment, candidate: false });
    for (const segment of ['codex', 'prefix-7Hq2', 'a.b_c~d']) expect(couldBeApiPrefix(segment)).toBe(true);
  });
});
