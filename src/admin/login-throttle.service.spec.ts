import { Clock } from '../token-pool/clock';
import { FAILED_LOGIN_WINDOW_MS, LoginThrottle, MAX_FAILED_LOGINS } from './login-throttle.service';

class ManualClock extends Clock {
  time = 1_700_000_000_000;
  now(): number {
    return this.time;
  }
}

describe('LoginThrottle', () => {
  let clock: ManualClock;
  let throttle: LoginThrottle;

  beforeEach(() => {
    clock = new ManualClock();
    throttle = new LoginThrottle(clock);
  });

  it('lets an address try until it has failed 5 times within 15 minutes', () => {
    for (let failure = 0; failure < MAX_FAILED_LOGINS - 1; failure++) {
      throttle.recordFailure('10.0.0.1');
      clock.time += 1000;
    }
    expect(throttle.retryAfterSec('10.0.0.1')).toBe(0);
    throttle.recordFailure('10.0.0.1');
    expect(throttle.retryAfterSec('10.0.0.1')).toBe(FAILED_LOGIN_WINDOW_MS / 1000 - 4);
    expect(throttle.retryAfterSec('10.0.0.2')).toBe(0);
  });

  it('forgets failures older than the window, one by one', () => {
    for (let failure = 0; failure < MAX_FAILED_LOGINS; failure++) {
      throttle.recordFailure('10.0.0.1');
      clock.time += 60_000;
    }
    clock.time += FAILED_LOGIN_WINDOW_MS - 5 * 60_000;
    expect(throttle.retryAfterSec('10.0.0.1')).toBe(0);
    throttle.recordFailure('10.0.0.1');
    expect(throttle.retryAfterSec('10.0.0.1')).toBe(60);
  });

  it('starts over after a success', () => {
    for (let failure = 0; failure < MAX_FAILED_LOGINS - 1; failure++) throttle.recordFailure('10.0.0.1');
    throttle.reset('10.0.0.1');
    throttle.recordFailure('10.0.0.1');
    expect(throttle.retryAfterSec('10.0.0.1')).toBe(0);
  });
});
