import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import type { UpstreamStep } from '../common/errors/api-error';
import { UpstreamError } from '../common/errors/upstream-error';
import { MetricsService } from '../metrics/metrics.service';
import { UpstreamClient, UpstreamIdentity, UpstreamResponse } from '../upstream/upstream.client';
import { upstreamFailure } from '../upstream/upstream-failure';
import { BuildInfoService } from './build-info.service';
import { buildBrowserConfig, requirementsTokenOf } from './pow-solver';
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

/** The answer of `sentinel/chat-requirements/prepare` (`gateway-live-ui.md` §4). */
interface PreparedRequirements {
  prepare_token?: string;
  persona?: string;
  proofofwork?: { required?: boolean; seed?: string; difficulty?: string };
  turnstile?: { required?: boolean; dx?: string };
  so?: unknown;
  force_login?: boolean;
}

/** What an external challenge solver gave: a token, or why there is none. */
type SolverAnswer = { token: string; problem?: undefined } | { token?: undefined; problem: string };

/** Who makes the sentinel calls of one turn, and how: the same for each of them. */
interface SentinelCall {
  identity: UpstreamIdentity;
  /** From `SENTINEL_PROXY_URL`; undefined: the identity's own proxy. */
  proxyUrl: string | undefined;
  headers: Record<string, string>;
  signal?: AbortSignal;
}

const REQUIREMENTS_TIMEOUT_MS = 10_000;
const SOLVER_TIMEOUT_MS = 30_000;

/**
 * The sentinel before each conversation: the classic chat-requirements (upstream-protocol.md §3) or the new
 * prepare/finalize pair (`gateway-live-ui.md` §4), the proof of work off the event loop, and the external
 * turnstile/arkose solvers.
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

  /** The classic sentinel: `POST sentinel/chat-requirements`, then the challenges it asks for. */
  async clear(baseUrl: string, identity: UpstreamIdentity, signal?: AbortSignal): Promise<SentinelClearance> {
    if (this.config.conversationOnly) return { headers: {} };
    const { browser, p } = await this.requirementsProof(baseUrl, identity);
    const requirements = await this.post<ChatRequirements>(
      `${baseUrl}/backend-api/sentinel/chat-requirements`,
      { identity, proxyUrl: this.sentinelProxy(), headers: {}, signal },
      { p },
      'requirements',
    );
    if (!requirements.token) throw new UpstreamError({ kind: 'no_requirements_token', step: 'requirements', status: 200 });

    // Arkose before the proof of work (upstream-protocol.md §3.3): a demand that cannot be met fails before any solving.
    const arkose = requirements.arkose;
    const arkoseToken = arkose?.required ? await this.arkoseToken(arkose.dx, requirements.persona, signal) : undefined;
    const solved = await this.challenges(requirements, browser, p, identity, signal);
    const headers: Record<string, string> = { 'openai-sentinel-chat-requirements-token': requirements.token, ...solved.headers };
    if (arkoseToken) headers['openai-sentinel-arkose-token'] = arkoseToken;
    return { headers, persona: requirements.persona };
  }

  /**
   * The sentinel of the new send flow (`gateway-live-ui.md` §4): `…/chat-requirements/prepare` with `p`, then
   * `…/finalize` with the prepare token and the proof of work and turnstile answers, each only when `required`.
   * The finalize token is the chat-requirements token of the conversation. `headers` go on both calls.
   */
  async clearPrepared(
    baseUrl: string,
    identity: UpstreamIdentity,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<SentinelClearance> {
    if (this.config.conversationOnly) return { headers: {} };
    const { browser, p } = await this.requirementsProof(baseUrl, identity);
    const root = `${baseUrl}/backend-api/sentinel/chat-requirements`;
    // Both calls from one address, as a browser makes them (prepare's cookies go back with finalize).
    const call: SentinelCall = { identity, proxyUrl: this.sentinelProxy(), headers, signal };
    const prepared = await this.post<PreparedRequirements>(`${root}/prepare`, call, { p }, 'sentinel_prepare');
    if (!prepared.prepare_token) throw new UpstreamError({ kind: 'no_requirements_token', step: 'sentinel_prepare', status: 200 });

    const solved = await this.challenges(prepared, browser, p, identity, signal);
    const finalized = await this.post<{ token?: string }>(
      `${root}/finalize`,
      call,
      { prepare_token: prepared.prepare_token, ...solved.answers },
      'sentinel_finalize',
    );
    if (!finalized.token) throw new UpstreamError({ kind: 'no_requirements_token', step: 'sentinel_finalize', status: 200 });
    const clearance: Record<string, string> = { 'openai-sentinel-chat-requirements-token': finalized.token, ...solved.headers };
    // What `so` holds is not public; the web app sends it back as the SO token (assumed from the header's name).
    if (typeof prepared.so === 'string' && prepared.so) clearance['openai-sentinel-so-token'] = prepared.so;
    return { headers: clearance, persona: prepared.persona };
  }

  /**
   * The `p` requirements token and the browser config it was solved over, which the conversation's proof of work of
   * the same attempt reuses (upstream-protocol.md §3.2: one time string, UUID and set of random picks for both).
   */
  private async requirementsProof(baseUrl: string, identity: UpstreamIdentity): Promise<{ browser: readonly unknown[]; p: string }> {
    const { dpl, scripts } = await this.buildInfo.get(baseUrl);
    const scriptUrl = scripts[Math.floor(Math.random() * scripts.length)];
    const browser = buildBrowserConfig({ userAgent: identity.fingerprint.userAgent, scriptUrl, dpl });
    return { browser, p: requirementsTokenOf(browser) };
  }

  /** One sentinel call: 200 and a JSON object, or the step's `UpstreamError`. */
  private async post<T extends object>(url: string, call: SentinelCall, json: unknown, step: UpstreamStep): Promise<T> {
    const { identity, proxyUrl, headers, signal } = call;
    const response = await this.upstream.request({
      method: 'POST',
      url,
      identity,
      headers,
      json,
      timeoutMs: REQUIREMENTS_TIMEOUT_MS,
      proxyUrl,
      signal,
      step,
    });
    if (response.status !== 200) throw upstreamFailure(step, response.status, response.headers, response.body);
    return parseJson<T>(response.body) ?? ({} as T);
  }

  /**
   * Solves what the requirements ask for, in the order of upstream-protocol.md §3.3 (turnstile, then the proof of
   * work): the answers (for finalize) and the conversation headers carrying them.
   */
  private async challenges(
    requirements: Pick<ChatRequirements, 'proofofwork' | 'turnstile'>,
    browser: readonly unknown[],
    p: string,
    identity: UpstreamIdentity,
    signal?: AbortSignal,
  ): Promise<{ answers: Record<string, string>; headers: Record<string, string> }> {
    const answers: Record<string, string> = {};
    const headers: Record<string, string> = {};
    const turnstile = requirements.turnstile;
    if (turnstile?.required && this.config.turnstileSolverUrl) {
      // Through the account's proxy, as its browser would solve it.
      const proxyUrl = identity.fingerprint.proxyUrl ?? null;
      const solverBody = { url: 'https://chatgpt.com', p, dx: turnstile.dx };
      const { token } = await this.askSolver(this.config.turnstileSolverUrl, solverBody, 't', signal, proxyUrl);
      if (token) answers.turnstile = token;
    }
    const pow = requirements.proofofwork;
    if (pow?.required) {
      answers.proofofwork = await this.solve(pow.seed, pow.difficulty, browser, signal);
      headers['openai-sentinel-proof-token'] = answers.proofofwork;
    }
    if (answers.turnstile) headers['openai-sentinel-turnstile-token'] = answers.turnstile;
    return { answers, headers };
  }

  private async solve(seed: unknown, difficulty: unknown, browser: readonly unknown[], signal?: AbortSignal): Promise<string> {
    // Whole bytes of hex: an odd length cannot be decoded (upstream-protocol.md §4.4).
    if (typeof seed !== 'string' || typeof difficulty !== 'string' || !/^(?:[0-9a-fA-F]{2})+$/.test(difficulty)) {
      throw new UpstreamError({ kind: 'pow_unreadable', step: 'proof_of_work' });
    }
    if (isHarderOrEqual(difficulty, this.config.powDifficulty)) {
      throw new UpstreamError({ kind: 'pow_too_hard', step: 'proof_of_work', difficulty, limit: this.config.powDifficulty });
    }
    const started = Date.now();
    const timed = this.metrics.timeUpstream('proof_of_work');
    const result = await this.powPool.solve(seed, difficulty.toLowerCase(), browser, signal);
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
    const { token, problem } = await this.askSolver(this.config.arkoseTokenUrl, { blob: dx, method }, 'token', signal);
    if (!token) throw new UpstreamError({ kind: 'arkose_failed', step: 'requirements', said: problem });
    return token;
  }

  /**
   * The solver's token from `field` of its answer, or what went wrong. `proxyUrl`: the turnstile solver goes through
   * the account's proxy, the arkose one directly (§3.3).
   */
  private async askSolver(
    url: string,
    json: unknown,
    field: string,
    signal?: AbortSignal,
    proxyUrl: string | null = null,
  ): Promise<SolverAnswer> {
    let response: UpstreamResponse;
    try {
      response = await this.upstream.request({
        method: 'POST',
        url,
        json,
        timeoutMs: SOLVER_TIMEOUT_MS,
        proxyUrl,
        signal,
        step: 'requirements',
      });
    } catch (error) {
      this.logger.warn(`challenge solver at ${new URL(url).host} failed: ${(error as Error).message}`);
      return { problem: 'it could not be reached' };
    }
    if (response.status !== 200) return { problem: `it answered ${response.status}` };
    const answer = parseJson<Record<string, unknown>>(response.body);
    // Some solvers say so when they failed, with a token of no use beside it (§3.3).
    if (answer?.solved === false) return { problem: 'it answered solved: false' };
    const token = answer?.[field];
    return typeof token === 'string' && token ? { token } : { problem: `its answer has no ${field}` };
  }

  /** One of `SENTINEL_PROXY_URL`, drawn once per turn; none: the account's own proxy. */
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
