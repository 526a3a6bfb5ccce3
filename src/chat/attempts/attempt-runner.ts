import { Injectable, Logger } from '@nestjs/common';
import { countUpstreamAttempt } from '../../common/http/request-facts';
import { maskSecret } from '../../common/util/secrets';
import type { AccountUse } from '../../auth/credential.service';
import type { ApiCredential } from '../../auth/api-credential';
import { MetricsService } from '../../metrics/metrics.service';
import { AttemptDecision, type AttemptFindings, AttemptPolicy, type AttemptRoute } from './attempt-policy';

export interface AttemptTarget extends AttemptRoute {
  /** The upstream model slug, for the model-cap memory. */
  modelSlug: string;
}

/**
 * Runs an attempt until one succeeds or `AttemptPolicy` says to stop: an account per attempt, the wait
 * between attempts, and the reports to the pool. Nothing here decides; the policy does.
 */
@Injectable()
export class AttemptRunner {
  private readonly logger = new Logger(AttemptRunner.name);

  constructor(
    private readonly policy: AttemptPolicy,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * `signal` is the request's own (`abortWhenClientLeaves`): it stops the attempts and counts them for the request log.
   * An attempt notes in `seen` what it saw of its account on the way, which the pool learns whatever the outcome.
   */
  async run<T>(
    credential: ApiCredential,
    target: AttemptTarget,
    signal: AbortSignal,
    attempt: (use: AccountUse, seen: AttemptFindings) => Promise<T>,
  ): Promise<T> {
    const state = this.policy.begin(credential, target);
    for (;;) {
      if (signal.aborted) throw abortError();
      const use = await this.policy.nextAccount(state);
      const capped = await this.policy.modelCap(use, target.modelSlug);
      if (capped) {
        const decision = await this.policy.failed(state, use, target.modelSlug, { modelCap: capped });
        if (!decision.retry) throw this.policy.givenUp(state, decision);
        this.metrics.recordRetry('model_cap');
        continue;
      }
      countUpstreamAttempt(signal);
      const seen: AttemptFindings = {};
      let result: T;
      try {
        result = await attempt(use, seen);
      } catch (error) {
        if (signal.aborted) throw error;
        const decision = await this.policy.failed(state, use, target.modelSlug, { error }, seen);
        this.logFailure(state.attempt, use, error, decision);
        if (!decision.retry) throw this.policy.givenUp(state, decision);
        this.metrics.recordRetry(decision.outcome?.kind === 'success' || !decision.outcome ? 'error' : decision.outcome.kind);
        if (decision.waitMs > 0) await delay(decision.waitMs, signal);
        continue;
      }
      await this.reportSuccess(use, seen);
      return result;
    }
  }

  /** The upstream has answered: the answer is the client's, whatever becomes of the pool's bookkeeping. */
  private async reportSuccess(use: AccountUse, seen: AttemptFindings): Promise<void> {
    try {
      await this.policy.succeeded(use, seen);
    } catch (error) {
      this.logger.warn(`could not record the success of ${accountName(use)}: ${(error as Error).message}`);
    }
  }

  private logFailure(attemptNo: number, use: AccountUse, error: unknown, decision: AttemptDecision): void {
    this.logger.warn(
      `attempt ${attemptNo} as ${accountName(use)} failed: ${(error as Error).message}${decision.retry ? '' : ' (not retried)'}`,
    );
  }
}

function accountName(use: AccountUse): string {
  return use.poolAccountId ? `pool account ${use.poolAccountId}` : maskSecret(use.accessToken);
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(abortError());
      },
      { once: true },
    );
  });
}

function abortError(): Error {
  const error = new Error('The client went away.');
  error.name = 'AbortError';
  return error;
}
