import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob, CronTime } from 'cron';
import { StoreUnavailableError } from '../common/errors/store-unavailable.error';
import { BackgroundWork } from '../common/lifecycle/background-work';
import { StartProblem } from '../common/startup/start-problem';
import { AppConfig } from '../config/app-config';
import { refreshCronProblem } from '../config/cron-expression';
import { Clock } from '../common/vocabulary/clock';
import type { RefreshSummary } from '../token-pool/pool.types';
import type { LockResult } from '../token-pool/stores/account-store';
import { PoolRefresher } from '../token-pool/pool-refresher';

export const REFRESH_JOB_NAME = 'refresh-job';
const LAST_RUN_KEY = 'refresh-job:last-run';
/** Long enough for any refresh; the Redis lock is renewed while the job runs anyway. */
const LOCK_TTL_MS = 10 * 60_000;
/**
 * A scheduled run that finds the lock taken tries again after 0.5 s, then twice as long each time up to 30 s, for at
 * most `LOCK_TTL_MS`: soon after another instance's run of the same occurrence ends, seldom while a dead one's lock lasts.
 */
export const FIRST_BUSY_RETRY_MS = 500;
export const MAX_BUSY_RETRY_MS = 30_000;
/** How far apart instances may fire one cron occurrence (timer delay, clock skew) and still agree on it. */
const MAX_FIRE_SKEW_MS = 5 * 60_000;
const DAY_MS = 86_400_000;
/** "At least N days" is compared between occurrences, so a DST shift (23 or 25 h days) must not push a run back a day. */
const MAX_DUE_SLACK_MS = 12 * 3_600_000;

export interface RefreshJobRun {
  /** The cron occurrence the run belongs to (ms since the epoch). */
  slot: number;
  finishedAt: number;
  summary: RefreshSummary;
  /**
   * Set when every renewal of the run failed (the auth server was down): the occurrence the interval still counts from
   * (the last run that renewed), null when none did. The next check then runs again instead of waiting out the interval.
   */
  countsFromSlot?: number | null;
}

/**
 * `SCHEDULED_REFRESH=true` (gateway.md §8.3): a non-forced refresh at start-up, then a forced refresh of
 * every RefreshToken account every `REFRESH_INTERVAL_DAYS` days. `REFRESH_CRON` (daily at 03:00 by default)
 * is when it checks: the forced refresh runs at the first occurrence at least that many days after the last
 * one, whose time is kept in the store, so the interval holds across month ends and restarts (an
 * "every 4th day of the month" cron restarts on the 1st and leaves gaps of 2 or 3 days).
 * Each run holds the store lock `refresh-job`, and a scheduled run records its cron occurrence, so that
 * with several instances on one Redis each occurrence runs once. A shutdown starts no run and waits for the one
 * holding the lock (its renewals store what the auth server answered, and it lets go of the lock).
 */
@Injectable()
export class TokenRefreshScheduler implements OnApplicationBootstrap {
  private readonly logger = new Logger(TokenRefreshScheduler.name);

  constructor(
    private readonly config: AppConfig,
    private readonly refresher: PoolRefresher,
    private readonly clock: Clock,
    private readonly registry: SchedulerRegistry,
    private readonly background: BackgroundWork,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.scheduledRefresh) return;
    let job: CronJob;
    try {
      job = CronJob.from({
        cronTime: this.config.refreshCron,
        onTick: async () => {
          await this.runScheduledRefresh();
        },
        waitForCompletion: true,
        errorHandler: (error) => this.logger.error(`Scheduled refresh failed: ${(error as Error).message}`),
      });
    } catch (error) {
      // Checked by loadConfig already; a configuration built another way (a spec's) still fails with the same line.
      throw new StartProblem(refreshCronProblem(this.config.refreshCron) ?? (error as Error).message);
    }
    this.registry.addCronJob(REFRESH_JOB_NAME, job);
    job.start();
    const every = this.config.refreshIntervalDays > 0 ? `every ${this.config.refreshIntervalDays} days, checked on` : 'on';
    this.logger.log(`Forced token refresh ${every} "${this.config.refreshCron}"; next check ${job.nextDate().toISO()}`);
    // Not awaited: boot must not wait for the auth server.
    this.runStartupRefresh().catch((error: Error) => this.logger.error(`Start-up refresh failed: ${error.message}`));
  }

  /** Renews only the accounts whose AccessToken is missing or about to expire. Skipped while another run holds the lock. */
  async runStartupRefresh(): Promise<RefreshSummary | null> {
    const locked = await this.underRefreshLock(() => this.refresher.refresh({ force: false }));
    if (!locked.acquired) {
      this.logger.log(
        `Start-up refresh skipped: ${this.background.accepting ? 'another instance is refreshing' : 'the server is shutting down'}`,
      );
      return null;
    }
    return locked.value;
  }

  /**
   * Renews every RefreshToken account when `REFRESH_INTERVAL_DAYS` have passed since the last forced run,
   * once per cron occurrence across all instances sharing the store. Null when skipped.
   */
  async runScheduledRefresh(): Promise<RefreshSummary | null> {
    const { slot, gapMs } = this.currentSlot();
    const occurrence = new Date(slot).toISOString();
    // The lock taken is not the occurrence done: another instance's start-up refresh, or the lock of one that died
    // (until its TTL ends). Waiting for it, then checking the record, runs the occurrence once all the same. A store
    // that does not answer (a Redis restart or failover as the job fires) is waited for the same way: the record it
    // holds says whether the occurrence still has to run.
    let storeDown: StoreUnavailableError | undefined;
    const attempt = async () => {
      try {
        const locked = await this.scheduledRun(slot, gapMs);
        storeDown = undefined;
        return locked;
      } catch (error) {
        if (!(error instanceof StoreUnavailableError)) throw error;
        if (!storeDown) this.logger.warn(`Scheduled refresh of ${occurrence} waits for the store: ${error.message}`);
        storeDown = error;
        return { acquired: false } as const;
      }
    };
    let locked = await attempt();
    for (let waitedMs = 0, pauseMs = FIRST_BUSY_RETRY_MS; !locked.acquired && waitedMs < LOCK_TTL_MS && this.background.accepting;) {
      await this.pause(pauseMs);
      waitedMs += pauseMs;
      pauseMs = Math.min(pauseMs * 2, MAX_BUSY_RETRY_MS);
      locked = await attempt();
    }
    if (!this.background.accepting && !locked.acquired) {
      this.logger.log(`Scheduled refresh of ${occurrence} not run: the server is shutting down`);
      return null;
    }
    if (!locked.acquired) {
      const why = storeDown ? storeDown.message : `the refresh lock stayed taken for ${LOCK_TTL_MS / 60_000} minutes`;
      this.logger.warn(`Scheduled refresh of ${occurrence} not run: ${why}`);
      return null;
    }
    const outcome = locked.value;
    if (outcome === 'ran elsewhere') this.logger.log(`Scheduled refresh of ${occurrence} skipped: another instance ran it`);
    else if (outcome === 'not due')
      this.logger.debug(
        `Scheduled refresh of ${occurrence} skipped: the last forced refresh was less than ${this.config.refreshIntervalDays} days ago`,
      );
    return typeof outcome === 'string' ? null : outcome;
  }

  private scheduledRun(slot: number, gapMs: number): Promise<LockResult<RefreshSummary | 'ran elsewhere' | 'not due'>> {
    return this.underRefreshLock(async () => {
      const last = await this.lastRun();
      if (last && last.slot >= slot) return 'ran elsewhere' as const;
      const countsFrom = last ? (last.countsFromSlot === undefined ? last.slot : last.countsFromSlot) : null;
      if (countsFrom !== null && slot < this.dueAt(countsFrom, gapMs)) return 'not due' as const;
      const summary = await this.refresher.refresh({ force: true });
      const failedAll = summary.attempted > 0 && summary.failed === summary.attempted;
      if (failedAll)
        this.logger.warn(`Scheduled refresh of ${new Date(slot).toISOString()}: every renewal failed; the next check runs it again`);
      const run: RefreshJobRun = { slot, finishedAt: this.clock.now(), summary, ...(failedAll ? { countsFromSlot: countsFrom } : {}) };
      // The occurrence has run: a store that does not take its record now must not have it waited for and run again
      // (every account renewed twice); the record is only lost, as the next occurrence's check will show.
      await this.refresher.recordJob(LAST_RUN_KEY, JSON.stringify(run)).catch((error: unknown) => {
        if (!(error instanceof StoreUnavailableError)) throw error;
        this.logger.warn(
          `Scheduled refresh of ${new Date(slot).toISOString()} ran, but the store did not take its record: ${error.message}`,
        );
      });
      return summary;
    });
  }

  /**
   * Runs `run` holding the store lock `refresh-job`, as work the shutdown waits for; once the shutdown has begun,
   * does not run it (as if another instance held the lock).
   */
  private async underRefreshLock<T>(run: () => Promise<T>): Promise<LockResult<T>> {
    if (!this.background.accepting) return { acquired: false };
    return this.background.track(() => this.refresher.exclusively(REFRESH_JOB_NAME, LOCK_TTL_MS, run));
  }

  /** Waits between tries for a taken lock (a spec replaces it). */
  protected pause(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms).unref());
  }

  /** The earliest occurrence that is at least `REFRESH_INTERVAL_DAYS` after `lastSlot` (within half a cron period). */
  private dueAt(lastSlot: number, gapMs: number): number {
    const intervalMs = this.config.refreshIntervalDays * DAY_MS;
    if (intervalMs === 0) return lastSlot + 1;
    return lastSlot + intervalMs - Math.min(MAX_DUE_SLACK_MS, Math.floor(gapMs / 2));
  }

  /**
   * The last scheduled run recorded in the store, by any instance. A record that cannot be read (damaged, or written
   * by hand) counts as no run, with a warning: the next check then runs the forced refresh and records it afresh,
   * rather than every check failing on it until someone repairs the store.
   */
  async lastRun(): Promise<RefreshJobRun | null> {
    const raw = await this.refresher.jobRecord(LAST_RUN_KEY);
    if (!raw) return null;
    let run: unknown;
    try {
      run = JSON.parse(raw);
    } catch {
      run = undefined;
    }
    if (!isRefreshJobRun(run)) {
      this.logger.warn(`The record of the last scheduled refresh (${LAST_RUN_KEY}) cannot be read; counting it as no run`);
      return null;
    }
    // An occurrence later than any instance's clock may be (written while a clock was set ahead, or by hand) would
    // pass for this check's run until that date comes: no forced refresh would run meanwhile.
    if (run.slot > this.clock.now() + MAX_FIRE_SKEW_MS) {
      this.logger.warn(
        `The record of the last scheduled refresh (${LAST_RUN_KEY}) is of ${Math.abs(run.slot) <= 8.64e15 ? new Date(run.slot).toISOString() : run.slot}, ahead of this clock; counting it as no run`,
      );
      return null;
    }
    return run;
  }

  /** The cron occurrence that fired just now (the first one after now minus the tolerated skew), and the cron's period there. */
  private currentSlot(): { slot: number; gapMs: number } {
    const cron = new CronTime(this.config.refreshCron);
    const now = this.clock.now();
    const next = cron.getNextDateFrom(new Date(now));
    const gap = cron.getNextDateFrom(next.toJSDate()).toMillis() - next.toMillis();
    const tolerance = Math.min(MAX_FIRE_SKEW_MS, Math.floor(gap / 2));
    const slot = cron.getNextDateFrom(new Date(now - tolerance)).toMillis();
    // Called outside a firing (by hand): the run stands for now, and the next occurrence still runs.
    return { slot: slot <= now + 1000 ? slot : now, gapMs: gap };
  }
}

/** Whether `value` has what a check reads from a run record: its occurrence, and the one the interval counts from. */
function isRefreshJobRun(value: unknown): value is RefreshJobRun {
  if (typeof value !== 'object' || value === null) return false;
  const { slot, countsFromSlot } = value as Partial<Record<keyof RefreshJobRun, unknown>>;
  return Number.isFinite(slot) && (countsFromSlot === undefined || countsFromSlot === null || Number.isFinite(countsFromSlot));
}
