import { Logger } from '@nestjs/common';
import { SharedState } from '../common/shared-state/shared-state';
import { DownSharedState } from '../common/shared-state/testing/down-shared-state';
import { Clock } from '../common/vocabulary/clock';
import { testConfig } from '../config/test-config';
import { ModelCapTracker } from './model-cap.tracker';

class ManualClock extends Clock {
  time = 1_700_000_000_000;
  now(): number {
    return this.time;
  }
}

describe('ModelCapTracker', () => {
  let clock: ManualClock;
  let warn: jest.SpyInstance;
  beforeEach(() => {
    clock = new ManualClock();
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  const tracker = (shared: SharedState) => new ModelCapTracker(testConfig({ enableLimit: true }), shared, clock);

  it('refuses an account on a model until the cap the upstream named resets', async () => {
    const caps = tracker(new SharedState(null, 'test:'));
    await caps.record('account-a', 'gpt-4o', 30);
    expect((await caps.refusal('account-a', 'gpt-4o'))?.details.retryAfter).toBe(30);
    expect(await caps.refusal('account-a', 'gpt-4')).toBeNull();
    expect(await caps.refusal('account-b', 'gpt-4o')).toBeNull();
    clock.time += 30_000;
    expect(await caps.refusal('account-a', 'gpt-4o')).toBeNull();
  });

  it('refuses nothing it does not know while Redis does not answer, and keeps what it learns meanwhile in this process', async () => {
    const caps = tracker(new DownSharedState());
    expect(await caps.refusal('account-a', 'gpt-4o')).toBeNull();
    await caps.record('account-a', 'gpt-4o', 30);
    expect((await caps.refusal('account-a', 'gpt-4o'))?.details.retryAfter).toBe(30);
    expect(warn).toHaveBeenCalledTimes(1);
  });
});
