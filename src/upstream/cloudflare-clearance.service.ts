import { Injectable, Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { UpstreamStep } from '../common/errors/api-error';
import { UpstreamError } from '../common/errors/upstream-error';
import { Clock } from '../common/vocabulary/clock';
import { AppConfig } from '../config/app-config';
import { ClearanceJar, ClearanceRoute, clearanceKey } from './clearance-jar';
import { ClearanceSolver } from './chromium-clearance.solver';

/**
 * How long a route whose solve failed is not solved again. Most failures last (no Chromium at CHROMIUM_PATH, a
 * challenge that wants a human), and each solve holds its requests for up to CF_CLEARANCE_TIMEOUT_MS.
 */
export const FAILED_SOLVE_COOLDOWN_MS = 5 * 60_000;

/**
 * A clearance refused this soon after its solve was never taken from us: Cloudflare gave Chromium a cookie it refuses
 * to Node's client (bound to the browser's TLS fingerprint). Solving again would earn the same, so the route cools
 * down as after a failed solve.
 */
export const FRESH_CLEARANCE_MS = 60_000;

/**
 * Cloudflare clearance for the upstream client (`CF_CLEARANCE=chromium`): the cookies earned per route are sent with
 * every request on that route, and a challenged request waits for one solve of its route (shared by every request
 * challenged meanwhile) before its single retry. A route whose solve failed fails its challenged requests at once for
 * `FAILED_SOLVE_COOLDOWN_MS`. Off, it does nothing and a challenge stays the `cf_challenge` error.
 */
@Injectable()
export class CloudflareClearance {
  private readonly logger = new Logger(CloudflareClearance.name);
  private readonly jar = new ClearanceJar();
  private readonly solving = new Map<string, Promise<void>>();
  /** Why the last solve of a route failed, kept for the cool-down. */
  private readonly failedSolves: LRUCache<string, string>;
  /** The `Cookie` header each route's last solve earned, kept for `FRESH_CLEARANCE_MS`. */
  private readonly freshClearances: LRUCache<string, string>;
  /** Challenged requests since boot. */
  challenged = 0;
  /** Solves started since boot (a challenge passed with a cookie another request already earned is not one). */
  solves = 0;

  constructor(
    private readonly config: AppConfig,
    private readonly solver: ClearanceSolver,
    clock: Clock,
  ) {
    const now = () => clock.now();
    this.failedSolves = new LRUCache<string, string>({ max: 1024, ttl: FAILED_SOLVE_COOLDOWN_MS, ttlResolution: 0, perf: { now } });
    this.freshClearances = new LRUCache<string, string>({ max: 1024, ttl: FRESH_CLEARANCE_MS, ttlResolution: 0, perf: { now } });
  }

  get enabled(): boolean {
    return this.config.cfClearance === 'chromium';
  }

  /** The clearance cookies to send on this route, if any. */
  cookieHeader(route: ClearanceRoute): string | undefined {
    return this.enabled ? this.jar.cookieHeader(route) : undefined;
  }

  /**
   * After the upstream challenged a request that carried `refusedCookie` (our clearance, or none): resolves once the
   * route holds a fresh clearance, so the request can be sent again. Throws `cf_challenge` when the helper fails, and
   * at once, without a solve, while the route cools down from a failed one or from a clearance refused within
   * `FRESH_CLEARANCE_MS` of being earned.
   */
  async pass(route: ClearanceRoute, refusedCookie: string | undefined, step: UpstreamStep, signal?: AbortSignal): Promise<void> {
    this.challenged++;
    const key = clearanceKey(route);
    if (refusedCookie !== undefined && this.freshClearances.get(key) === refusedCookie) this.refusedWhenFresh(route, key);
    this.jar.discard(route, refusedCookie);
    if (this.jar.cookieHeader(route) !== undefined) return;
    const failure = this.failedSolves.get(key);
    if (failure !== undefined) {
      const retryInSec = Math.ceil(this.failedSolves.getRemainingTTL(key) / 1000);
      throw helperFailed(step, `${failure} (not tried again on this route for ${retryInSec} s)`);
    }
    let solving = this.solving.get(key);
    if (!solving) {
      solving = this.solve(route, key);
      this.solving.set(key, solving);
      const forget = () => this.solving.delete(key);
      solving.then(forget, forget);
    }
    try {
      await untilAborted(solving, signal);
    } catch (error) {
      if (signal?.aborted) throw error;
      throw helperFailed(step, (error as Error).message);
    }
  }

  private async solve(route: ClearanceRoute, key: string): Promise<void> {
    this.solves++;
    const host = new URL(route.origin).host;
    this.logger.log(`Cloudflare challenge from ${host}: solving it in Chromium${route.proxyUrl ? ' through the account proxy' : ''}`);
    try {
      this.jar.store(route, await this.solver.solve(route, this.config.cfClearanceTimeoutMs));
      const earned = this.jar.cookieHeader(route);
      if (earned !== undefined) this.freshClearances.set(key, earned);
      this.logger.log(`Cloudflare clearance for ${host} obtained`);
    } catch (error) {
      const reason = (error as Error).message;
      this.failedSolves.set(key, reason);
      this.logger.warn(
        `Cloudflare clearance for ${host} failed: ${reason}; not tried again on this route for ${FAILED_SOLVE_COOLDOWN_MS / 60_000} min`,
      );
      throw error;
    }
  }

  private refusedWhenFresh(route: ClearanceRoute, key: string): void {
    const reason = `Cloudflare refused the clearance Chromium had just earned (bound to the browser, not to this client)`;
    this.freshClearances.delete(key);
    this.failedSolves.set(key, reason);
    this.logger.warn(
      `Cloudflare clearance for ${new URL(route.origin).host}: ${reason}; not solved again on this route for ${FAILED_SOLVE_COOLDOWN_MS / 60_000} min`,
    );
  }
}

function helperFailed(step: UpstreamStep, reason: string): UpstreamError {
  return new UpstreamError({ kind: 'cf_challenge', step, said: `the Chromium clearance helper could not pass it: ${reason}` });
}

/** Waits for a shared solve, but lets this caller leave when its client does (the solve goes on for the others). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

function abortError(): Error {
  const error = new Error('The operation was aborted');
  error.name = 'AbortError';
  return error;
}
