import type { AccountOutcome } from '../vocabulary/account-outcome';
import { ApiError, UpstreamStep } from './api-error';
import { catalogEntry, ErrorName, renderMessage } from './error-catalog';
import { withoutCredentials } from '../util/secrets';

/** What went wrong with the upstream (or a helper on the way to it), whatever the client will be told. */
export type UpstreamErrorKind =
  /** 401: the access token is expired or revoked. */
  | 'unauthorized'
  /** 403 naming the account deactivated, banned or suspended. */
  | 'deactivated'
  /** Any other 403. */
  | 'forbidden'
  /** A Cloudflare challenge page instead of an answer. */
  | 'cf_challenge'
  | 'not_found'
  /** 413: the conversation is too long (or, while uploading, the file). */
  | 'too_large'
  /** The sentinel's persona says the account is not paid, and the model is paid-only: another account may serve it. */
  | 'model_not_in_plan'
  /** 429; `retryAfter` from its reset hint. */
  | 'rate_limited'
  /** Any other 4xx. */
  | 'rejected'
  /** 5xx or another unexpected status. */
  | 'server_error'
  /** No answer in time (connect, headers or a buffered body). */
  | 'timeout'
  /** The conversation did not start answering within the first-byte deadline. */
  | 'first_byte_timeout'
  /** The upstream could not be reached. */
  | 'transport'
  /** Node would not build the request (a header with characters HTTP does not allow). */
  | 'request_invalid'
  /** The account's own access token cannot be sent in a header. */
  | 'credential_invalid'
  /** A 200 conversation answer that is not an event stream. */
  | 'not_streaming'
  /** The event stream ended before any answer. */
  | 'no_answer'
  /** The event stream opened with an error instead of an answer. */
  | 'refused_answer'
  /** The connection broke in the middle of the answer. */
  | 'stream_cut'
  /** An error event after the answer had started (`code` is the upstream's). */
  | 'answer_error'
  /** The answer was handed over to a WebSocket (`stream_handoff`) that could not be opened or subscribed. */
  | 'websocket_failed'
  /** The hand-off WebSocket dropped before the turn ended and `f/conversation/resume` could not recover the rest. */
  | 'resume_failed'
  /** chat-requirements answered 200 without a token. */
  | 'no_requirements_token'
  /** `f/conversation/prepare` answered 200 without a conduit token. */
  | 'no_conduit_token'
  | 'arkose_required'
  | 'arkose_failed'
  | 'pow_unreadable'
  | 'pow_too_hard'
  | 'pow_unsolved'
  /** The file upload flow answered without what it should hold. */
  | 'files_refused'
  | 'files_unreadable';

export interface UpstreamErrorInit {
  kind: UpstreamErrorKind;
  step: UpstreamStep;
  /** The upstream's HTTP status, when it answered. */
  status?: number;
  /** Seconds until the upstream's limit resets, when it said. */
  retryAfter?: number;
  /** What the upstream (or the failing helper) said, already shortened; anything shaped like a credential is redacted here. */
  said?: string;
  /** For `answer_error`: the upstream's error code. */
  code?: string;
  /** For `model_not_in_plan`: the model the client asked for. */
  model?: string;
  /** For `first_byte_timeout`: how long we waited. */
  waitedMs?: number;
  /** For `pow_too_hard`: the asked difficulty and our limit. */
  difficulty?: string;
  limit?: string;
}

/** Failures another attempt cannot fix, on any account: the request itself is at fault. */
const FINAL_KINDS: ReadonlySet<UpstreamErrorKind> = new Set(['not_found', 'too_large', 'rejected']);

/**
 * A typed upstream failure: which step broke, the upstream status, what kind of failure it is, and what it
 * means for the account that made the call. Retry decisions and the pool read this; the client only ever sees
 * `toApiError(error)`, made at the edge (the exception filter, the in-stream error writer).
 */
export class UpstreamError extends Error {
  readonly kind: UpstreamErrorKind;
  readonly step: UpstreamStep;
  readonly status?: number;
  readonly retryAfter?: number;
  /** What to report against the account that made the call; null when the failure is not the account's. */
  readonly accountOutcome: AccountOutcome | null;
  /** Whether another attempt, maybe on another account, could succeed. */
  readonly retryable: boolean;
  private readonly init: UpstreamErrorInit;

  constructor(given: UpstreamErrorInit) {
    const init = given.said === undefined ? given : { ...given, said: withoutCredentials(given.said) };
    super(clientMessage(init));
    this.name = 'UpstreamError';
    this.init = init;
    this.kind = init.kind;
    this.step = init.step;
    this.status = init.status;
    this.retryAfter = init.retryAfter;
    this.retryable = !FINAL_KINDS.has(init.kind);
    this.accountOutcome = outcomeFor(init, this.message);
  }

  /** The client-facing error (see `toApiError`). */
  toApiError(): ApiError {
    const { name, params, code } = presentation(this.init);
    return ApiError.of(name, params as never, { code, retryAfter: this.retryAfter, upstream: { step: this.step, status: this.status } });
  }
}

/** The one mapping from an upstream failure to what the client is told (openai-api.md §10.2). */
export function toApiError(error: UpstreamError): ApiError {
  return error.toApiError();
}

/** An `ApiError` as it is, an `UpstreamError` as the client sees it, anything else null. */
export function clientErrorOf(error: unknown): ApiError | null {
  if (error instanceof ApiError) return error;
  if (error instanceof UpstreamError) return toApiError(error);
  return null;
}

function outcomeFor(init: UpstreamErrorInit, message: string): AccountOutcome | null {
  switch (init.kind) {
    case 'credential_invalid':
      return { kind: 'unusable', reason: 'access token cannot be sent in an HTTP header' };
    // Failed on this account without an upstream verdict: a request Node would not build, or a conversation that stalled.
    case 'request_invalid':
      return { kind: 'failed', reason: message };
    case 'timeout':
    case 'first_byte_timeout':
      return init.step === 'conversation' ? { kind: 'failed', reason: message } : null;
    case 'rate_limited':
      return { kind: 'rate_limited', retryAfterSec: init.retryAfter };
    case 'unauthorized':
      return { kind: 'unauthorized' };
    case 'deactivated':
      return { kind: 'forbidden', reason: message };
    default:
      return null;
  }
}

interface Presentation {
  name: ErrorName;
  params: Record<string, string | number | undefined>;
  code?: string;
}

const NAME_BY_KIND: Record<Exclude<UpstreamErrorKind, 'answer_error' | 'model_not_in_plan'>, ErrorName> = {
  unauthorized: 'upstream_unauthorized',
  deactivated: 'account_deactivated',
  forbidden: 'upstream_forbidden',
  cf_challenge: 'cf_challenge',
  not_found: 'upstream_not_found',
  too_large: 'context_length_exceeded',
  rate_limited: 'upstream_rate_limited',
  rejected: 'upstream_rejected',
  server_error: 'upstream_status',
  timeout: 'upstream_timeout',
  first_byte_timeout: 'upstream_first_byte_timeout',
  transport: 'upstream_unreachable',
  request_invalid: 'upstream_request_invalid',
  credential_invalid: 'upstream_credential_invalid',
  not_streaming: 'upstream_not_streaming',
  no_answer: 'upstream_no_answer',
  refused_answer: 'upstream_refused_answer',
  stream_cut: 'upstream_stream_cut',
  websocket_failed: 'upstream_websocket_failed',
  resume_failed: 'upstream_resume_failed',
  no_requirements_token: 'upstream_no_requirements_token',
  no_conduit_token: 'upstream_no_conduit_token',
  arkose_required: 'arkose_required',
  arkose_failed: 'arkose_failed',
  pow_unreadable: 'pow_unreadable',
  pow_too_hard: 'pow_too_hard',
  pow_unsolved: 'pow_unsolved',
  files_refused: 'upstream_files_refused',
  files_unreadable: 'upstream_files_unreadable',
};

function presentation(init: UpstreamErrorInit): Presentation {
  const { step, status, waitedMs, difficulty, limit } = init;
  switch (init.kind) {
    case 'answer_error':
      return { name: 'upstream_answer_error', params: { said: init.said ?? '' }, code: init.code ?? 'upstream_stream_error' };
    case 'refused_answer':
      return { name: 'upstream_refused_answer', params: { said: init.said ?? '' } };
    case 'model_not_in_plan':
      return { name: 'model_not_found', params: { model: init.model ?? '' } };
    case 'stream_cut':
      return { name: 'upstream_stream_cut', params: { reason: init.said ?? '' } };
    default: {
      // Appended to messages that end with what the upstream said, when it said something.
      const said = init.said ? `: ${init.said}` : undefined;
      // A 413 while uploading is about the file, not a conversation too long for the model.
      const name = init.kind === 'too_large' && step === 'files' ? 'upstream_file_too_large' : NAME_BY_KIND[init.kind];
      return { name, params: { step, status, said, waitedMs, difficulty, limit } };
    }
  }
}

function clientMessage(init: UpstreamErrorInit): string {
  const { name, params } = presentation(init);
  return renderMessage(catalogEntry(name).message, params);
}
