import { Injectable, Logger } from '@nestjs/common';
import { randomInt, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { AppConfig } from '../config/app-config';
import { ApiError } from '../common/errors/api-error';
import { maskSecret } from '../common/util/secrets';
import { AccountUse, CredentialService } from '../auth/credential.service';
import type { ApiCredential } from '../auth/api-credential';
import { SentinelService } from '../pow/sentinel.service';
import { UpstreamClient, UpstreamIdentity } from '../upstream/upstream.client';
import { isRetryable, outcomeOf, upstreamFailure } from '../upstream/upstream-failure';
import { ModelCapTracker } from './model-cap.tracker';
import type { ResolvedModel } from './models/model-mapping';
import type { UpstreamMessage } from './message-converter';
import { SseParser } from './translation/sse-parser';
import { TranslatedPiece, UpstreamStreamTranslator } from './translation/upstream-stream-translator';

export interface ConversationRequest {
  model: ResolvedModel;
  /** Builds the upstream messages for the account of an attempt (uploads happen per account). */
  messages: (identity: UpstreamIdentity, baseUrl: string) => Promise<UpstreamMessage[]>;
  conversationId?: string;
  parentMessageId?: string;
  historyDisabled: boolean;
  chatgptAccountId?: string;
}

/** A conversation whose answer has started: the pieces still to come, read lazily from the upstream. */
export interface StartedConversation {
  pieces: AsyncGenerator<TranslatedPiece>;
  /** The account that answered, for links to the files it made. */
  account: AccountUse;
  identity: UpstreamIdentity;
  baseUrl: string;
}

const CONVERSATION_HEADERS_TIMEOUT_MS = 30_000;
const ERROR_BODY_LIMIT = 64 * 1024;

/**
 * Runs one chat against the upstream: picks an account per attempt, clears the sentinel, posts the
 * conversation and reads until the answer has started. Everything before that point is retried
 * (`RETRY_TIMES`), moving to another pool account on 401/403/429; nothing after it is.
 */
@Injectable()
export class ConversationService {
  private readonly logger = new Logger(ConversationService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly upstream: UpstreamClient,
    private readonly sentinel: SentinelService,
    private readonly credentials: CredentialService,
    private readonly modelCaps: ModelCapTracker,
  ) {}

  async start(credential: ApiCredential, request: ConversationRequest, signal: AbortSignal): Promise<StartedConversation> {
    const tried = new Set<string>();
    let lastError: unknown;
    for (let attempt = 0; attempt <= this.config.retryTimes; attempt++) {
      if (signal.aborted) throw abortError();
      const use = await this.credentials.acquire(credential, tried, request.chatgptAccountId);
      if (!use) throw poolExhausted(tried.size, lastError);
      if (use.poolAccountId) tried.add(use.poolAccountId);
      const capped = await this.modelCaps.refusal(use.fingerprintKey, request.model.slug);
      if (capped) {
        if (!this.credentials.rotates(credential)) throw capped;
        lastError = capped;
        continue;
      }
      try {
        const started = await this.attempt(use, request, signal);
        await this.credentials.report(use, { kind: 'success' });
        return started;
      } catch (error) {
        if (signal.aborted) throw error;
        lastError = error;
        const outcome = outcomeOf(error);
        if (outcome) await this.credentials.report(use, outcome);
        if (outcome?.kind === 'rate_limited') await this.modelCaps.record(use.fingerprintKey, request.model.slug, outcome.retryAfterSec);
        const rotating = this.credentials.rotates(credential);
        // A refused account is only worth another attempt when the next one may be another account.
        const retry = isRetryable(error) && (rotating || !outcome);
        this.logger.warn(
          `attempt ${attempt + 1} as ${use.poolAccountId ? `pool account ${use.poolAccountId}` : maskSecret(use.accessToken)} failed: ${(error as Error).message}${retry ? '' : ' (not retried)'}`,
        );
        if (!retry) throw error;
        if (!outcome) await delay(150 * (attempt + 1), signal);
      }
    }
    // Every pooled account we tried was refused: the pool, not the client's key, is the problem.
    if (this.credentials.rotates(credential) && (outcomeOf(lastError) || isLocalCap(lastError))) throw poolExhausted(tried.size, lastError);
    throw lastError;
  }

  private async attempt(use: AccountUse, request: ConversationRequest, signal: AbortSignal): Promise<StartedConversation> {
    const identity: UpstreamIdentity = {
      accessToken: use.accessToken,
      chatgptAccountId: use.chatgptAccountId,
      fingerprint: this.upstream.fingerprint(use.fingerprintKey),
    };
    const baseUrl = this.upstream.pickBaseUrl();
    const clearance = await this.sentinel.clear(baseUrl, identity, signal);
    if (request.model.paidOnly && clearance.persona && clearance.persona !== 'chatgpt-paid') throw ApiError.modelNotFound(request.model.requested);

    const messages = await request.messages(identity, baseUrl);
    const response = await this.upstream.stream({
      method: 'POST',
      url: `${baseUrl}/backend-api/conversation`,
      identity,
      headers: { accept: 'text/event-stream', ...clearance.headers },
      json: this.conversationBody(request, messages),
      timeoutMs: CONVERSATION_HEADERS_TIMEOUT_MS,
      signal,
      step: 'conversation',
    });
    const contentType = String(response.headers['content-type'] ?? '');
    if (response.status !== 200 || !contentType.includes('text/event-stream')) {
      const body = await readLimited(response.body, ERROR_BODY_LIMIT);
      if (response.status === 200) {
        throw new ApiError(502, 'upstream_error', 'upstream_not_streaming', 'The upstream answered without a stream.', {
          upstream: { step: 'conversation', status: 200 },
        });
      }
      if (response.status === 404 && request.model.gizmoId) throw ApiError.modelNotFound(request.model.requested);
      throw upstreamFailure('conversation', response.status, response.headers, body);
    }

    const pieces = translate(response.body);
    const head: TranslatedPiece[] = [];
    for (;;) {
      const next = await pieces.next();
      if (next.done) {
        throw new ApiError(502, 'upstream_error', 'upstream_no_answer', 'The upstream ended the conversation without answering.', {
          upstream: { step: 'conversation', status: 200 },
        });
      }
      head.push(next.value.piece);
      if (next.value.piece.type === 'error' && !next.value.answerStarted) {
        await pieces.return(undefined);
        throw new ApiError(403, 'upstream_error', 'upstream_forbidden', `The upstream refused to answer: ${next.value.piece.message}`, {
          upstream: { step: 'conversation', status: 200 },
        });
      }
      if (next.value.answerStarted || next.value.piece.type === 'finish') break;
    }
    return { pieces: concatPieces(head, pieces), account: use, identity, baseUrl };
  }

  private conversationBody(request: ConversationRequest, messages: UpstreamMessage[]): Record<string, unknown> {
    const { model } = request;
    return {
      action: 'next',
      messages,
      model: model.slug,
      parent_message_id: request.parentMessageId ?? randomUUID(),
      ...(request.conversationId ? { conversation_id: request.conversationId } : {}),
      conversation_mode: model.gizmoId ? { kind: 'gizmo_interaction', gizmo_id: model.gizmoId } : { kind: 'primary_assistant' },
      history_and_training_disabled: request.historyDisabled,
      websocket_request_id: randomUUID(),
      supported_encodings: this.config.upstreamDeltaEncoding ? ['v1'] : [],
      force_use_sse: true,
      force_paragen: false,
      force_paragen_model_slug: '',
      force_rate_limit: false,
      reset_rate_limits: false,
      suggestions: [],
      system_hints: [],
      conversation_origin: null,
      paragen_cot_summary_display_override: 'allow',
      paragen_stream_type_override: null,
      variant_purpose: 'comparison_implicit',
      timezone: 'America/Los_Angeles',
      timezone_offset_min: -480,
      client_contextual_info: {
        is_dark_mode: false,
        time_since_loaded: randomInt(50, 501),
        page_height: randomInt(500, 1001),
        page_width: randomInt(1000, 2001),
        pixel_ratio: 1.5,
        screen_height: randomInt(800, 1201),
        screen_width: randomInt(1200, 2201),
      },
    };
  }
}

interface PieceWithState {
  piece: TranslatedPiece;
  answerStarted: boolean;
}

/** Parses and translates the upstream body as it arrives; returning early destroys the upstream request. */
async function* translate(body: Readable): AsyncGenerator<PieceWithState> {
  const parser = new SseParser();
  const translator = new UpstreamStreamTranslator();
  try {
    // Not destroyed on a normal end, so the upstream connection goes back to the keep-alive pool.
    for await (const chunk of body.iterator({ destroyOnReturn: false })) {
      for (const event of parser.push(chunk as Buffer)) {
        for (const piece of translator.feed(event)) yield { piece, answerStarted: translator.answerStarted };
      }
    }
    for (const event of parser.end()) {
      for (const piece of translator.feed(event)) yield { piece, answerStarted: translator.answerStarted };
    }
    for (const piece of translator.end()) yield { piece, answerStarted: translator.answerStarted };
    if (!translator.finished) yield { piece: { type: 'error', message: 'The upstream ended the stream before the answer was complete.', code: 'upstream_stream_cut' }, answerStarted: true };
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiError(502, 'upstream_error', 'upstream_stream_cut', `The upstream connection failed in the middle of the answer: ${(error as Error).message}`, {
      upstream: { step: 'conversation' },
    });
  } finally {
    releaseBody(body, translator.finished);
  }
}

const DRAIN_GRACE_MS = 2_000;

/**
 * A finished answer usually stops being read just before the upstream closes its body: let the rest drain so
 * the keep-alive connection can be reused. An unfinished one (client gone, `max_tokens`) is cut off at once.
 */
function releaseBody(body: Readable, answerFinished: boolean): void {
  if (body.readableEnded || body.destroyed) return;
  if (!answerFinished) {
    body.destroy();
    return;
  }
  const timer = setTimeout(() => body.destroy(), DRAIN_GRACE_MS);
  timer.unref();
  body.once('end', () => clearTimeout(timer));
  body.once('error', () => clearTimeout(timer));
  body.resume();
}

async function* concatPieces(head: TranslatedPiece[], rest: AsyncGenerator<PieceWithState>): AsyncGenerator<TranslatedPiece> {
  try {
    yield* head;
    for await (const { piece } of rest) yield piece;
  } finally {
    await rest.return(undefined);
  }
}

async function readLimited(body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= limit) break;
    }
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks).subarray(0, limit);
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(abortError());
    }, { once: true });
  });
}

function abortError(): Error {
  const error = new Error('The client went away.');
  error.name = 'AbortError';
  return error;
}

/** 503 `no_available_account`, saying how many accounts were tried and why the last one failed. */
function poolExhausted(triedCount: number, lastError: unknown): ApiError {
  if (triedCount === 0 || !(lastError instanceof ApiError)) return ApiError.noAvailableAccount();
  return new ApiError(
    503,
    'server_error',
    'no_available_account',
    `No account in the pool could answer: ${triedCount} tried, the last one failed with: ${lastError.message}`,
    { retryAfter: lastError.details.retryAfter },
  );
}

function isLocalCap(error: unknown): boolean {
  return error instanceof ApiError && error.getStatus() === 429 && !error.details.upstream;
}
