import { Logger } from '@nestjs/common';
import type { AttemptLimits, AttemptWindow } from '../common/shared-state/attempt-window';
import { SharedState } from '../common/shared-state/shared-state';
import { DownSharedState } from '../common/shared-state/testing/down-shared-state';
import { AppConfig } from '../config/app-config';
import { Clock } from '../common/vocabulary/clock';
import { AdminAuthService } from './admin-auth.service';
import { AdminSecret } from './admin-secret.service';
import type { AdminSessionStore } from './admin-session.store';
import { FAILED_LOGIN_WINDOW_MS, LOCKED_ATTEMPT_INTERVAL_MS, LoginThrottle, MAX_FAILED_LOGINS } from './login-throttle.service';

class ManualClock extends Clock {
  time = 1_700_000_000_000;
  now(): number {
    return this.time;
  }
}

const SECRET = 'the-admin-secret';

/**
 * Memory windows that answer each call a turn of the event loop later, in call order, as one Redis connection
 * does: concurrent attempts then all start before any of them is answered.
 */
class RoundTripSharedState extends SharedState {
  attemptWindow(name: string, limits: AttemptLimits): AttemptWindow {
    const window = super.attemptWindow(name, limits);
    const later = <T>(call: () => Promise<T>) => new Promise<void>((resolve) => setImmediate(resolve)).then(call);
    return {
      retryAfterSec: (key, now) => later(() => window.retryAfterSec(key, now)),
      record: (key, now) => later(() => window.record(key, now)),
      tryRecord: (key, now) => later(() => window.tryRecord(key, now)),
      reset: (key) => later(() => window.reset(key)),
    };
  }
}

describe('LoginThrottle with AdminAuthService', () => {
  let clock: ManualClock;
  let auth: AdminAuthService;

  beforeEach(() => {
    clock = new ManualClock();
    const throttle = new LoginThrottle(new SharedState(null, 'test:'), clock);
    auth = new AdminAuthService(new AdminSecret(Object.assign(new AppConfig(), { adminKey: SECRET })), throttle, {} as AdminSessionStore);
  });

  const failTimes = async (address: string, times: number) => {
    for (let i = 0; i < times; i++) expect(await auth.checkSecret(address, `guess-${i}`)).toEqual({ ok: false, reason: 'wrong_secret' });
  };

  it('answers wrong secrets as wrong until 5 within 15 minutes, then as throttled', async () => {
    await failTimes('10.0.0.1', MAX_FAILED_LOGINS);
    expect(await auth.checkSecret('10.0.0.1', 'guess')).toEqual({
      ok: false,
      reason: 'throttled',
      retryAfterSec: LOCKED_ATTEMPT_INTERVAL_MS / 1000,
    });
    expect(await auth.checkSecret('10.0.0.2', 'guess')).toEqual({ ok: false, reason: 'wrong_secret' });
  });

  it('lets the right secret in after the lock, and that clears the count', async () => {
    await failTimes('10.0.0.1', MAX_FAILED_LOGINS);
    expect(await auth.checkSecret('10.0.0.1', SECRET)).toEqual({ ok: true });
    await failTimes('10.0.0.1', MAX_FAILED_LOGINS);
  });

  it('checks one attempt a minute while locked: a guesser is slowed, and cannot tell a checked guess from an unchecked one', async () => {
    await failTimes('10.0.0.1', MAX_FAILED_LOGINS);
    const checkedWrong = await auth.checkSecret('10.0.0.1', 'guess');
    // Within the minute even the right secret is refused unchecked, with the same answer as the wrong guess.
    clock.time += 10_000;
    const unchecked = await auth.checkSecret('10.0.0.1', SECRET);
    expect(unchecked).toEqual({ ok: false, reason: 'throttled', retryAfterSec: 50 });
    expect(Object.keys(checkedWrong)).toEqual(Object.keys(unchecked));
    clock.time += 50_000;
    expect(await auth.checkSecret('10.0.0.1', SECRET)).toEqual({ ok: true });
  });

  it('counts one IPv6 /64 as one network, and IPv4-mapped addresses as their IPv4', async () => {
    for (let i = 0; i < MAX_FAILED_LOGINS; i++) await auth.checkSecret(`2001:db8:0:1::${i + 1}`, 'guess');
    expect(await auth.checkSecret('2001:db8:0:1:abcd::9', 'guess')).toMatchObject({ reason: 'throttled' });
    expect(await auth.checkSecret('2001:db8:0:2::1', 'guess')).toEqual({ ok: false, reason: 'wrong_secret' });

    await failTimes('192.0.2.9', MAX_FAILED_LOGINS);
    expect(await auth.checkSecret('::ffff:192.0.2.9', 'guess')).toMatchObject({ reason: 'throttled' });
  });

  it('forgets failures older than the window, one by one', async () => {
    for (let failure = 0; failure < MAX_FAILED_LOGINS; failure++) {
      await auth.checkSecret('10.0.0.1', 'guess');
      clock.time += 60_000;
    }
    clock.time += FAILED_LOGIN_WINDOW_MS - 5 * 60_000;
    expect(await auth.checkSecret('10.0.0.1', 'guess')).toEqual({ ok: false, reason: 'wrong_secret' });
    expect(await auth.checkSecret('10.0.0.1', 'guess')).toMatchObject({ reason: 'throttled' });
  });

  it('starts over after a success', async () => {
    await failTimes('10.0.0.1', MAX_FAILED_LOGINS - 1);
    expect(await auth.checkSecret('10.0.0.1', SECRET)).toEqual({ ok: true });
    await failTimes('10.0.0.1', MAX_FAILED_LOGINS);
  });

  describe('with concurrent attempts', () => {
    beforeEach(() => {
      const throttle = new LoginThrottle(new RoundTripSharedState(null, 'test:'), clock);
      auth = new AdminAuthService(new AdminSecret(Object.assign(new AppConfig(), { adminKey: SECRET })), throttle, {} as AdminSessionStore);
    });

    it('lets in any number of concurrent calls that carry the right secret', async () => {
      const checks = await Promise.all(Array.from({ length: 20 }, () => auth.checkSecret('10.0.0.1', SECRET)));
      expect(checks.filter((check) => !check.ok)).toEqual([]);
    });

    it('still answers only 5 of a burst of concurrent guesses, and a right one after them finds the lock', async () => {
      const burst = [...Array.from({ length: 20 }, (_, i) => `guess-${i}`), SECRET];
      const checks = await Promise.all(burst.map((given) => auth.checkSecret('10.0.0.1', given)));
      expect(checks.filter((check) => !check.ok && check.reason === 'wrong_secret')).toHaveLength(MAX_FAILED_LOGINS);
      expect(checks.filter((check) => check.ok)).toEqual([]);
    });
  });

  describe('while Redis does not answer', () => {
    let shared: DownSharedState;
    let throttle: LoginThrottle;
    beforeEach(() => {
      jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      shared = new DownSharedState();
      throttle = new LoginThrottle(shared, clock);
      auth = new AdminAuthService(new AdminSecret(Object.assign(new AppConfig(), { adminKey: SECRET })), throttle, {} as AdminSessionStore);
    });
    afterEach(() => jest.restoreAllMocks());

    it('still checks the secret, counting guesses in this process (found in review: /metrics went dark in an outage)', async () => {
      expect(await auth.checkSecret('10.0.0.1', SECRET)).toEqual({ ok: true });
      await failTimes('10.0.0.1', MAX_FAILED_LOGINS);
      expect(await auth.checkSecret('10.0.0.1', 'guess')).toMatchObject({ ok: false, reason: 'throttled' });
    });

    it('keeps a network locked out that guessed meanwhile once Redis answers again, whose count there is blank', async () => {
      jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
      await failTimes('10.0.0.1', MAX_FAILED_LOGINS);
      expect(await auth.checkSecret('10.0.0.1', 'guess')).toMatchObject({ ok: false, reason: 'throttled' });
      shared.answering = true;
      expect(await auth.checkSecret('10.0.0.1', 'guess')).toMatchObject({ ok: false, reason: 'throttled' });
      expect(await throttle.retryAfterSec('10.0.0.1')).toBeGreaterThan(0);
      // Still one checked attempt a minute: the admin who mistyped gets in.
      clock.time += LOCKED_ATTEMPT_INTERVAL_MS;
      expect(await auth.checkSecret('10.0.0.1', SECRET)).toEqual({ ok: true });
      await failTimes('10.0.0.2', MAX_FAILED_LOGINS);
    });
  });
});
