import { Injectable, Optional } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { UpstreamStep } from '../common/errors/api-error';
import { AppConfig } from '../config/app-config';

/** Pool accounts per state, as the pool counts them. */
export type PoolStateCounts = Record<'active' | 'rate_limited' | 'expired' | 'disabled', number>;
const ACCOUNT_STATES = ['active', 'rate_limited', 'expired', 'disabled'] as const;
/** Requests that matched no route share one label value, so probing random paths adds no series. */
export const UNMATCHED_ROUTE = '(unmatched)';

/** What became of an upstream call: its status class (`2xx`…`5xx`) or `error` when no answer came. */
export type UpstreamOutcome = '2xx' | '3xx' | '4xx' | '5xx' | 'error';

/** Why a conversation attempt was retried: the account outcome, a local model cap, or another retryable error. */
export type RetryReason = 'rate_limited' | 'unauthorized' | 'forbidden' | 'model_cap' | 'unusable' | 'failed' | 'error';

/**
 * The Prometheus instruments of one app instance, in its own registry (never prom-client's global one, so
 * several apps in one process never clash). Code elsewhere calls the small `record…`/`time…` methods, which do
 * nothing when `METRICS_ENABLED` is off: then nothing is counted or timed, and no default collectors run.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  private readonly httpRequests = new Counter({
    name: 'flowgpt_http_requests_total',
    help: 'HTTP requests answered, by method, matched route pattern and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  private readonly upstreamDuration = new Histogram({
    name: 'flowgpt_upstream_request_duration_seconds',
    help: 'Time of each upstream step (conversation: until the answer headers arrive), by step and outcome.',
    labelNames: ['step', 'outcome'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  private readonly retries = new Counter({
    name: 'flowgpt_upstream_retries_total',
    help: 'Conversation attempts retried (possibly on another account), by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  private readonly powSolve = new Histogram({
    name: 'flowgpt_pow_solve_duration_seconds',
    help: 'Proof-of-work solve time, by outcome.',
    labelNames: ['outcome'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  /**
   * The pool's counts, not this instance's: every instance on one Redis reports the same numbers. Prometheus labels each
   * scrape with its target (`instance`), so nothing is added here; aggregating is the query's business, with max().
   */
  private readonly poolAccounts = new Gauge({
    name: 'flowgpt_pool_accounts',
    help:
      'Accounts in the pool, by state (read from the pool at each scrape). Pool-wide: every instance sharing one store ' +
      'reports the same counts, so aggregate across instances with max(), not sum().',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });

  private readonly storeUp = new Gauge({
    name: 'flowgpt_store_up',
    help: 'Whether the account store answered at this scrape (1) or not (0: flowgpt_pool_accounts is left out).',
    registers: [this.registry],
  });

  private readonly openStreams = new Gauge({
    name: 'flowgpt_open_streams',
    help: 'Streaming chat completions currently open.',
    registers: [this.registry],
  });

  /** Whether anything is recorded; on when no configuration is given (unit tests of the recording code). */
  readonly enabled: boolean;

  constructor(@Optional() config?: AppConfig) {
    this.enabled = config?.metricsEnabled ?? true;
    if (this.enabled) collectDefaultMetrics({ register: this.registry });
  }

  recordHttpRequest(method: string, route: string | null, status: number): void {
    if (!this.enabled) return;
    this.httpRequests.inc({ method, route: route ?? UNMATCHED_ROUTE, status: String(status) });
  }

  /** Starts timing one upstream step; call the returned function with the outcome when it is over. */
  timeUpstream(step: UpstreamStep): (outcome: UpstreamOutcome) => void {
    if (!this.enabled) return ignoreOutcome;
    const started = performance.now();
    return (outcome) => this.upstreamDuration.observe({ step, outcome }, (performance.now() - started) / 1000);
  }

  recordRetry(reason: RetryReason): void {
    if (this.enabled) this.retries.inc({ reason });
  }

  recordPowSolve(seconds: number, solved: boolean): void {
    if (this.enabled) this.powSolve.observe({ outcome: solved ? 'solved' : 'failed' }, seconds);
  }

  /**
   * The Prometheus text exposition, with the gauges set from the current pool counts and open streams. Without pool
   * counts (the store does not answer), the pool gauge is left out rather than showing stale or zero counts.
   */
  async render(current: { pool: PoolStateCounts | null; openStreams: number }): Promise<string> {
    this.poolAccounts.reset();
    if (current.pool) for (const state of ACCOUNT_STATES) this.poolAccounts.set({ state }, current.pool[state]);
    this.storeUp.set(current.pool ? 1 : 0);
    this.openStreams.set(current.openStreams);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

const ignoreOutcome = (): void => undefined;

/** `2xx`…`5xx` for an HTTP status. */
export function statusClass(status: number): UpstreamOutcome {
  if (status >= 500) return '5xx';
  if (status >= 400) return '4xx';
  if (status >= 300) return '3xx';
  return '2xx';
}
