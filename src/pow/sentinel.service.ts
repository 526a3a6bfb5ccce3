import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { UpstreamError } from '../common/errors/upstream-error';
import { MetricsService } from '../metrics/metrics.service';
import { UpstreamClient, UpstreamIdentity } from '../upstream/upstream.client';
import { upstreamFailure } from '../upstream/upstream-failure';
import { BuildInfoService } from './build-info.service';
import { buildBrowserConfig, requirementsToken } from './pow-solver';
import { PowWorkerPool } from './pow-worker-pool';

export interface SentinelClearance {
  /** Headers to send on the conversation request. */
  headers: Record<string, string>;
  /** e.g. `chatgpt-paid`, `chatgpt-freeaccount`; unknown with CONVERSATION_ONLY. */
  persona?: string;
}

interface ChatRequirements {
  token?: string;
  persona?: string;
  proofofwork?: { required?: boolean; seed?: string; difficulty?: string };
  turnstile?: { required?: boolean; dx?: string };
  arkose?: { required?: boolean; dx?: string };
}

const REQUIREMENTS_TIMEOUT_MS = 10_000;
const SOLVER_TIMEOUT_MS = 30_000;

/**
 * The sentinel flow before each conversation (upstream-protocol.md §3): requirements token,
 * chat-requirements, proof of work off the event loop, and the external turnstile/arkose solvers.
 */
@Injectable()
export class SentinelService {
  private readonly logger = new Logger(SentinelService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly upstream: UpstreamClient,
    private readonly buildInfo: BuildInfoService,
    private readonly powPool: PowWorkerPool,
    private readonly metrics: MetricsService,
  ) {}

  async clear(baseUrl: string, identity: UpstreamIdentity, signal?: AbortSignal): Promise<SentinelClearance> {
    if (this.config.conversationOnly) return { headers: {} };
    const { dpl, scripts } = await this.buildInfo.get(baseUrl);
    const scriptUrl = scripts[Math.floor(Math.random() * scripts.length)];
    const browser = { userAgent: identity.fingerprint.userAgent, scriptUrl, dpl };
    const p = requirementsToken(identity.fingerprint.userAgent, { scriptUrl, dpl });

    const response = await this.upstream.request({
      method: 'POST',
      url: `${baseUrl}/backend-api/sentinel/chat-requirements`,
      identity,
      json: { p },
      timeoutMs: REQUIREMENTS_TIMEOUT_MS,
      proxyUrl: this.sentinelProxy(),
      signal,
      step: 'requirements',
    });
    if (response.status !== 200) throw upstreamFailure('requirements', response.status, response.headers, response.body);
    const requirements = parseJson<ChatRequirements>(response.body);
    if (!requirements?.token) {
      throw new UpstreamError({ kind: 'no_requirements_token', step: 'requirements', status: response.status });
    }

    const headers: Record<string, string> = { 'openai-sentinel-chat-requirements-token': requirements.token };
    const pow = requirements.proofofwork;
    if (pow?.required) headers['openai-sentinel-proof-token'] = await this.solve(pow.seed, pow.difficulty, browser, signal);
    const turnstile = requirements.turnstile;
    if (turnstile?.required && this.config.turnstileSolverUrl) {
      const token = await this.askSolver(this.config.turnstileSolverUrl, { url: 'https://chatgpt.com', p, dx: turnstile.dx }, 't', signal);
      if (token) headers['openai-sentinel-turnstile-token'] = token;
    }
    const arkose = requirements.arkose;
    if (arkose?.required) headers['openai-sentinel-arkose-token'] = await this.arkoseToken(arkose.dx, requirements.persona, signal);
    return { headers, persona: requirements.persona };
  }

  private async solve(seed: unknown, difficulty: unknown, browser: Parameters<typeof buildBrowserConfig>[0], signal?: AbortSignal): Promise<string> {
    if (typeof seed !== 'string' || typeof difficulty !== 'string' || !/^[0-9a-fA-F]+$/.test(difficulty)) {
      throw new UpstreamError({ kind: 'pow_unreadable', step: 'proof_of_work' });
    }
    if (isHarderOrEqual(difficulty, this.config.powDifficulty)) {
      throw new UpstreamError({ kind: 'pow_too_hard', step: 'proof_of_work', difficulty, limit: this.config.powDifficulty });
    }
    const started = Date.now();
    const timed = this.metrics.timeUpstream('proof_of_work');
    const result = await this.powPool.solve(seed, difficulty.toLowerCase(), buildBrowserConfig(browser), signal);
    timed(result.solved ? '2xx' : 'error');
    this.metrics.recordPowSolve((Date.now() - started) / 1000, result.solved);
    if (!result.solved) throw new UpstreamError({ kind: 'pow_unsolved', step: 'proof_of_work' });
    this.logger.debug(`proof of work at ${difficulty} solved in ${Date.now() - started} ms`);
    return `gAAAAAB${result.answer}`;
  }

  private async arkoseToken(dx: string | undefined, persona: string | undefined, signal?: AbortSignal): Promise<string> {
    if (!this.config.arkoseTokenUrl) {
      throw new UpstreamError({ kind: 'arkose_required', step: 'requirements' });
    }
    const method = persona === 'chatgpt-freeaccount' ? 'chat35' : 'chat4';
    const token = await this.askSolver(this.config.arkoseTokenUrl, { blob: dx, method }, 'token', signal);
    if (!token) {
      throw new UpstreamError({ kind: 'arkose_failed', step: 'requirements' });
    }
    return token;
  }

  private async askSolver(url: string, json: unknown, field: string, signal?: AbortSignal): Promise<string | undefined> {
    try {
      const response = await this.upstream.request({ method: 'POST', url, json, timeoutMs: SOLVER_TIMEOUT_MS, proxyUrl: null, signal, step: 'requirements' });
      const value = parseJson<Record<string, unknown>>(response.body)?.[field];
      return response.status === 200 && typeof value === 'string' && value ? value : undefined;
    } catch (error) {
      this.logger.warn(`challenge solver at ${new URL(url).host} failed: ${(error as Error).message}`);
      return undefined;
    }
  }

  private sentinelProxy(): string | undefined {
    const proxies = this.config.sentinelProxyUrl;
    return proxies.length > 0 ? proxies[Math.floor(Math.random() * proxies.length)] : undefined;
  }
}

/** Lower hex targets are harder; strings are compared at equal length (upstream-protocol.md §3). */
export function isHarderOrEqual(difficulty: string, ceiling: string): boolean {
  const width = Math.max(difficulty.length, ceiling.length);
  return difficulty.toLowerCase().padEnd(width, '0') <= ceiling.toLowerCase().padEnd(width, '0');
}

function parseJson<T>(body: Buffer): T | undefined {
  try {
    return JSON.parse(body.toString('utf8')) as T;
  } catch {
    return undefined;
  }
}
