import { Logger } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronTime } from 'cron';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreUnavailableError } from '../common/errors/store-unavailable.error';
import type { AppConfig } from '../config/app-config';
import type { AccountStore } from '../token-pool/stores/account-store';
import { FileAccountStore } from '../token-pool/stores/file-account-store';
import { redisHarness } from '../token-pool/testing/redis-harness';
import { FakeClock } from '../token-pool/testing/fake-clock';
import { testConfig } from '../config/test-config';
import { fakeAccessToken, fakeRefreshToken, startFakeAuthServer, type FakeAuthServer } from '../token-pool/testing/fixtures';
import { poolServices, type PoolServices } from '../token-pool/testing/pool-services';
import { MAX_BUSY_RETRY_MS, REFRESH_JOB_NAME, TokenRefreshScheduler } from './token-refresh.scheduler';

const HOUR = 3_600_000;

/** The scheduler with its waits for a taken lock recorded and run at once (or as `onPause` says). */
class TestScheduler extends TokenRefreshScheduler {
  readonly pauses: number[] = [];
  onPause?: () => Promise<void> | void;

  protected override async pause(ms: number): Promise<void> {
    this.pauses.push(ms);
    await this.onPause?.();
  }
}
const CRON = '0 3 */4 * *';

describe('TokenRefreshScheduler', () => {
  const clock = new FakeClock();
  let server: FakeAuthServer;
  const opened: PoolServices[] = [];
  const refreshedTokens = () => server.requests.map((request) => request.refresh_token);

  /** One instance of the app's pool and scheduler over `store`. */
  const instance = (store: AccountStore, overrides: Partial<AppConfig> = {}) => {
    const config = testConfig({ authBaseUrl: server.url, scheduledRefresh: true, refreshCron: CRON, ...overrides });
    const pool = poolServices(store, config, clock);
    opened.push(pool);
    const registry = new SchedulerRegistry();
    return { pool, registry, scheduler: new TestScheduler(config, pool.refresher, clock, registry, pool.background) };
  };

  /** Whether the fake auth server answers 503, as when it is down. */
  let authServerDown = false;
  beforeAll(async () => {
    server = await startFakeAuthServer(() =>
      authServerDown
        ? { status: 503, body: 'unavailable' }
        : { status: 200, body: { access_token: fakeAccessToken({ exp: clock.now() + HOUR }) }, delayMs: 50 },
    );
  });
  afterAll(() => server.close());
  beforeEach(() => {
    authServerDown = false;
    // Just after an occurrence of the cron, as when the job fires.
    clock.set(new CronTime(CRON).getNextDateFrom(new Date(Date.UTC(2030, 0, 1))).toMillis() + 150);
    server.requests.length = 0;
  });
  afterEach(() => {
    for (const pool of opened.splice(0)) pool.close();
  });

  describe('on files', () => {
    let dataDir: string;
    let store: FileAccountStore;
    beforeEach(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'flowgpt-scheduler-'));
      store = new FileAccountStore({ dataDir });
    });
    afterEach(() => rm(dataDir, { recursive: true, force: true }));

    it('at start-up renews only the tokens close to expiry; the scheduled run renews all', async () => {
      const { pool, scheduler } = instance(store);
      const [fresh, stale, never] = [fakeRefreshToken('fresh'), fakeRefreshToken('stale'), fakeRefreshToken('never')];
      await pool.admin.upload([fresh, stale, never, fakeAccessToken({ exp: clock.now() + HOUR })]);
      const [freshId, staleId] = (await pool.readModel.list()).map((account) => account.id);
      await pool.refresher.refresh({ id: freshId });
      await pool.refresher.refresh({ id: staleId });
      clock.advance(HOUR - 10 * 60_000);
      await pool.refresher.refresh({ id: freshId, force: true });
      clock.advance(6 * 60_000);
      server.requests.length = 0;

      expect(await scheduler.runStartupRefresh()).toEqual({ attempted: 2, refreshed: 2, failed: 0, disabled: 0, skipped: 2 });
      expect(refreshedTokens().sort()).toEqual([never, stale].sort());

      server.requests.length = 0;
      expect(await scheduler.runScheduledRefresh()).toEqual({ attempted: 3, refreshed: 3, failed: 0, disabled: 0, skipped: 1 });
      expect(refreshedTokens().sort()).toEqual([fresh, stale, never].sort());
      expect(await scheduler.lastRun()).toMatchObject({ summary: { refreshed: 3 } });
    });

    it('registers the cron job from REFRESH_CRON and refreshes at boot without blocking it', async () => {
      const { pool, registry, scheduler } = instance(store);
      await pool.admin.upload([fakeRefreshToken('boot')]);
      scheduler.onApplicationBootstrap();
      const job = registry.getCronJob(REFRESH_JOB_NAME);
      try {
        expect(job.isActive).toBe(true);
        expect(server.requests).toHaveLength(0);
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(refreshedTokens()).toEqual([fakeRefreshToken('boot')]);
      } finally {
        await job.stop();
      }
    });

    it('does nothing when SCHEDULED_REFRESH is off, and names a bad REFRESH_CRON', () => {
      const off = instance(store, { scheduledRefresh: false });
      off.scheduler.onApplicationBootstrap();
      expect(off.registry.getCronJobs().size).toBe(0);
      const bad = instance(store, { refreshCron: 'every day' });
      expect(() => bad.scheduler.onApplicationBootstrap()).toThrow(/REFRESH_CRON="every day"/);
    });
  });

  describe('REFRESH_INTERVAL_DAYS with a daily check', () => {
    const DAILY = '0 3 * * *';
    const DAY = 24 * HOUR;
    let dataDir: string;
    beforeEach(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'flowgpt-interval-'));
    });
    afterEach(() => rm(dataDir, { recursive: true, force: true }));
    /** Moves the clock to just after the next daily occurrence, as when the job fires. */
    const nextCheck = () => clock.set(new CronTime(DAILY).getNextDateFrom(new Date(clock.now())).toMillis() + 150);

    it('runs the forced refresh every 4 days across month ends (where a day-of-month cron leaves 2- or 3-day gaps)', async () => {
      const { pool, scheduler } = instance(new FileAccountStore({ dataDir }), { refreshCron: DAILY, refreshIntervalDays: 4 });
      await pool.admin.upload([fakeRefreshToken('monthly')]);
      clock.set(Date.UTC(2030, 0, 20));
      const runs: number[] = [];
      for (let check = 0; check < 45; check++) {
        nextCheck();
        if (await scheduler.runScheduledRefresh()) runs.push(clock.now());
      }
      const gapsInDays = runs.slice(1).map((at, i) => Math.round((at - runs[i]) / DAY));
      expect(gapsInDays).toEqual(Array(runs.length - 1).fill(4));
      expect(runs).toHaveLength(12);
      // The runs cross both month ends (January → February → March).
      expect(new Set(runs.map((at) => new Date(at).getMonth()))).toEqual(new Set([0, 1, 2]));
      expect(refreshedTokens()).toHaveLength(12);
    });

    it('runs the forced refresh again at the next check when every renewal of a run failed (the auth server was down)', async () => {
      const { pool, scheduler } = instance(new FileAccountStore({ dataDir }), { refreshCron: DAILY, refreshIntervalDays: 4 });
      await pool.admin.upload([fakeRefreshToken('outage-1'), fakeRefreshToken('outage-2')]);
      nextCheck();
      authServerDown = true;
      expect(await scheduler.runScheduledRefresh()).toMatchObject({ attempted: 2, refreshed: 0, failed: 2 });
      expect(await scheduler.lastRun()).toMatchObject({ summary: { failed: 2 }, countsFromSlot: null });
      authServerDown = false;
      nextCheck();
      expect(await scheduler.runScheduledRefresh()).toMatchObject({ attempted: 2, refreshed: 2 });
      expect(await scheduler.lastRun()).toMatchObject({ summary: { refreshed: 2 } });
      nextCheck();
      expect(await scheduler.runScheduledRefresh()).toBeNull();
    });

    it('counts a record of the last run it cannot read as no run, says so, and records the next run afresh', async () => {
      const warnings: string[] = [];
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => void warnings.push(String(message)));
      try {
        const { pool, scheduler } = instance(new FileAccountStore({ dataDir }), { refreshCron: DAILY, refreshIntervalDays: 4 });
        await pool.admin.upload([fakeRefreshToken('damaged-record')]);
        // A torn or hand-edited value.
        await pool.refresher.recordJob('refresh-job:last-run', '{"slot":1893466800000,"finishedAt":18934');

        nextCheck();
        expect(await scheduler.runScheduledRefresh()).toMatchObject({ refreshed: 1 });
        expect(warnings).toEqual(['The record of the last scheduled refresh (refresh-job:last-run) cannot be read; counting it as no run']);
        expect(await scheduler.lastRun()).toMatchObject({ slot: clock.now() - 150, summary: { refreshed: 1 } });
        nextCheck();
        expect(await scheduler.runScheduledRefresh()).toBeNull();
        expect(refreshedTokens()).toHaveLength(1);
      } finally {
        warn.mockRestore();
      }
    });

    it('counts a record of a run ahead of every clock (written while a clock was years off) as no run', async () => {
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      try {
        const { pool, scheduler } = instance(new FileAccountStore({ dataDir }), { refreshCron: DAILY, refreshIntervalDays: 4 });
        await pool.admin.upload([fakeRefreshToken('future-record')]);
        nextCheck();
        const aYearAhead = clock.now() + 365 * 86_400_000;
        await pool.refresher.recordJob(
          'refresh-job:last-run',
          JSON.stringify({ slot: aYearAhead, finishedAt: aYearAhead, summary: { attempted: 1, refreshed: 1, failed: 0 } }),
        );

        expect(await scheduler.runScheduledRefresh()).toMatchObject({ refreshed: 1 });
        expect(await scheduler.lastRun()).toMatchObject({ slot: clock.now() - 150 });

        // Past any date there is: still counted as no run, and said so.
        await pool.refresher.recordJob('refresh-job:last-run', JSON.stringify({ slot: 1e300, finishedAt: 0, summary: {} }));
        expect(await scheduler.lastRun()).toBeNull();
      } finally {
        warn.mockRestore();
      }
    });

    it('keeps the time of the last forced refresh in the store, so a restart does not run it early', async () => {
      const first = instance(new FileAccountStore({ dataDir }), { refreshCron: DAILY, refreshIntervalDays: 4 });
      await first.pool.admin.upload([fakeRefreshToken('restart')]);
      nextCheck();
      expect(await first.scheduler.runScheduledRefresh()).toMatchObject({ refreshed: 1 });
      const ranSlot = (await first.scheduler.lastRun())!.slot;

      // A new process (new store object, same files) two days later: not due yet.
      const store = new FileAccountStore({ dataDir });
      await store.open();
      const restarted = instance(store, { refreshCron: DAILY, refreshIntervalDays: 4 });
      const results = [];
      for (let check = 0; check < 4; check++) {
        nextCheck();
        results.push(await restarted.scheduler.runScheduledRefresh());
      }
      expect(results.map((summary) => summary !== null)).toEqual([false, false, false, true]);
      expect(Math.round(((await restarted.scheduler.lastRun())!.slot - ranSlot) / DAY)).toBe(4);
    });

    it('waits for a lock another run holds (a start-up refresh, or an instance that died), then runs the occurrence', async () => {
      const store = new FileAccountStore({ dataDir });
      const { pool, scheduler } = instance(store);
      await pool.admin.upload([fakeRefreshToken('held')]);
      let release!: () => void;
      const held = store.withLock(REFRESH_JOB_NAME, 60_000, () => new Promise<void>((resolve) => (release = resolve)));
      scheduler.onPause = () => {
        if (scheduler.pauses.length === 3) release();
      };

      expect(await scheduler.runScheduledRefresh()).toMatchObject({ refreshed: 1 });
      expect(scheduler.pauses).toEqual([500, 1_000, 2_000]);
      await held;
      expect(refreshedTokens()).toHaveLength(1);
    });

    it('runs the occurrence once the store answers again when it did not as the job fired (a Redis blip)', async () => {
      const store = new FileAccountStore({ dataDir });
      const { pool, scheduler } = instance(store);
      await pool.admin.upload([fakeRefreshToken('blip')]);
      jest.spyOn(store, 'withLock').mockRejectedValueOnce(new StoreUnavailableError('the test store', new Error('away')));

      expect(await scheduler.runScheduledRefresh()).toMatchObject({ refreshed: 1 });
      expect(scheduler.pauses).toEqual([500]);
      expect(refreshedTokens()).toHaveLength(1);
    });

    it('does not run the occurrence again when the store does not take its record after it ran', async () => {
      const store = new FileAccountStore({ dataDir });
      const { pool, scheduler } = instance(store);
      await pool.admin.upload([fakeRefreshToken('ran-once')]);
      jest.spyOn(pool.refresher, 'recordJob').mockRejectedValueOnce(new StoreUnavailableError('the test store', new Error('away')));

      expect(await scheduler.runScheduledRefresh()).toMatchObject({ refreshed: 1 });
      expect(scheduler.pauses).toEqual([]);
      expect(refreshedTokens()).toHaveLength(1);
    });

    it('gives the occurrence up, saying so, when the lock stays taken past its lifetime', async () => {
      const store = new FileAccountStore({ dataDir });
      const { pool, scheduler } = instance(store);
      await pool.admin.upload([fakeRefreshToken('stuck')]);
      let release!: () => void;
      const held = store.withLock(REFRESH_JOB_NAME, 60_000, () => new Promise<void>((resolve) => (release = resolve)));

      expect(await scheduler.runScheduledRefresh()).toBeNull();
      // Doubling waits up to 30 s, until the lock's lifetime (10 min) has passed.
      const waited = scheduler.pauses.reduce((sum, ms) => sum + ms, 0);
      expect(scheduler.pauses.slice(0, 3)).toEqual([500, 1_000, 2_000]);
      expect(Math.max(...scheduler.pauses)).toBe(MAX_BUSY_RETRY_MS);
      expect(waited).toBeGreaterThanOrEqual(10 * 60_000);
      expect(waited - scheduler.pauses.at(-1)!).toBeLessThan(10 * 60_000);
      expect(refreshedTokens()).toHaveLength(0);
      release();
      await held;
    });

    it('starts no run once the server is shutting down, stops waiting for a taken lock then, and is waited for while it runs', async () => {
      const store = new FileAccountStore({ dataDir });
      const { pool, scheduler } = instance(store);
      await pool.admin.upload([fakeRefreshToken('late')]);
      const startup = scheduler.runStartupRefresh();
      expect(pool.background.size).toBe(1);
      expect(await startup).toMatchObject({ refreshed: 1 });
      expect(pool.background.size).toBe(0);
      let release!: () => void;
      const held = store.withLock(REFRESH_JOB_NAME, 60_000, () => new Promise<void>((resolve) => (release = resolve)));
      scheduler.onPause = () => {
        if (scheduler.pauses.length === 2) pool.background.stop();
      };
      expect(await scheduler.runScheduledRefresh()).toBeNull();
      expect(scheduler.pauses).toEqual([500, 1_000]);
      release();
      await held;
      expect(await scheduler.runStartupRefresh()).toBeNull();
      expect(await scheduler.runScheduledRefresh()).toBeNull();
      expect(refreshedTokens()).toHaveLength(1);
    });

    it('REFRESH_INTERVAL_DAYS=0 runs at every occurrence', async () => {
      const { pool, scheduler } = instance(new FileAccountStore({ dataDir }), { refreshCron: DAILY, refreshIntervalDays: 0 });
      await pool.admin.upload([fakeRefreshToken('daily')]);
      const ran = [];
      for (let check = 0; check < 3; check++) {
        nextCheck();
        ran.push((await scheduler.runScheduledRefresh()) !== null);
      }
      expect(ran).toEqual([true, true, true]);
    });
  });

  describe('two instances on one Redis', () => {
    let harness: Awaited<ReturnType<typeof redisHarness>>;
    const stores: AccountStore[] = [];
    beforeEach(async () => {
      harness = await redisHarness();
    });
    afterEach(async () => {
      for (const store of stores.splice(0)) await store.close();
      await harness.cleanup();
    });
    const open = async () => {
      const store = await harness.open();
      stores.push(store);
      return store;
    };

    it('run each scheduled occurrence once', async () => {
      const first = instance(await open());
      const second = instance(await open());
      await first.pool.admin.upload([fakeRefreshToken('r1'), fakeRefreshToken('r2'), fakeRefreshToken('r3')]);

      const [a, b] = await Promise.all([first.scheduler.runScheduledRefresh(), second.scheduler.runScheduledRefresh()]);
      expect([a, b].filter((summary) => summary !== null)).toEqual([{ attempted: 3, refreshed: 3, failed: 0, disabled: 0, skipped: 0 }]);
      expect(server.requests).toHaveLength(3);

      // An instance whose timer fires late, after the other finished, sees the occurrence already done.
      clock.advance(2_000);
      expect(await second.scheduler.runScheduledRefresh()).toBeNull();
      expect(server.requests).toHaveLength(3);

      clock.set(new CronTime(CRON).getNextDateFrom(new Date(clock.now())).toMillis() + 80);
      expect(await second.scheduler.runScheduledRefresh()).toMatchObject({ refreshed: 3 });
      expect(await first.scheduler.runScheduledRefresh()).toBeNull();
      expect(server.requests).toHaveLength(6);
    });
  });
});
