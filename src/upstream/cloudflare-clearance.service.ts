import { Injectable, Logger } from '@nestjs/common';
import type { UpstreamStep } from '../common/errors/api-error';
import { UpstreamError } from '../common/errors/upstream-error';
import { AppConfig } from '../config/app-config';
import { ClearanceJar, ClearanceRoute, clearanceKey } from './clearance-jar';
import { ClearanceSolver } from './chromium-clearance.solver';

/**
 * Cloudflare clearance for the upstream client (`CF_CLEARANCE=chromium`): the cookies earned per route are sent with
 * every request on that route, and a challenged request waits for one solve of its route (shared by every request
 * challenged meanwhile) before its single retry. Off, it does nothing and a challenge stays the `cf_challenge` error.
 */
@Injectable()
export class CloudflareClearance {
  private readonly logger = new Logger(CloudflareClearance.name);
  private readonly jar = new ClearanceJar();
  private readonly solving = new Map<string, Promise<void>>();
  /** Challenged requests since boot. */
  challenged = 0;
  /** Solves started since boot (a challenge passed with a cookie another request already earned is not one). */
  solves = 0;

  constructor(
    private readonly config: AppConfig,
    private readonly solver: ClearanceSolver,
  ) {}

  get enabled(): boolean {
    return this.config.cfClearance === 'chromium';
  }

  /** The clearance cookies to send on this route, if any. */
  cookieHeader(route: ClearanceRoute): string | undefined {
    return this.enabled ? this.jar.cookieHeader(route) : undefined;
  }

  /**
   * After the upstream challenged a request that carried `refusedCookie` (our clearance, or none): resolves once the
   * route holds a fresh clearance, so the request can be sent again. Throws `cf_challenge` when the helper fails.
   */
  async pass(route: ClearanceRoute, refusedCookie: string | undefined, step: UpstreamStep, signal?: AbortSignal): Promise<void> {
    this.challenged++;
    this.jar.discard(route, refusedCookie);
    if (this.jar.cookieHeader(route) !== undefined) return;
    const key = clearanceKey(route);
    let solving = this.solving.get(key);
    if (!solving) {
      solving = this.solve(route);
      this.solving.set(key, solving);
      const forget = () => this.solving.delete(key);
      solving.then(forget, forget);
    }
    try {
      await untilAborted(solving, signal);
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new UpstreamError({
        kind: 'cf_challenge',
        step,
        said: `the Chromium clearance helper could not pass it: ${(error as Error).message}`,
      });
    }
  }

  private async solve(route: ClearanceRoute): Promise<void> {
    this.solves++;
    const host = new URL(route.origin).host;
    this.logger.log(`Cloudflare challenge from ${host}: solving it in Chromium${route.proxyUrl ? ' through the account proxy' : ''}`);
    try {
      this.jar.store(route, await this.solver.solve(route, this.config.cfClearanceTimeoutMs));
      this.logger.log(`Cloudflare clearance for ${host} obtained`);
    } catch (error) {
      this.logger.warn(`Cloudflare clearance for ${host} failed: ${(error as Error).message}`);
      throw error;
    }
  }
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
