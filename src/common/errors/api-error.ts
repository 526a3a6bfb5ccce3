import { HttpException } from '@nestjs/common';
import { catalogEntry, ErrorName, ErrorParams, renderMessage } from './error-catalog';

export type ApiErrorType = 'invalid_request_error' | 'authentication_error' | 'rate_limit_error' | 'upstream_error' | 'server_error';

export interface ApiErrorBody {
  error: { message: string; type: ApiErrorType; param: string | null; code: string | null };
}

/** The step of the upstream exchange that failed, so logs and messages say where it broke. */
export type UpstreamStep =
  | 'requirements'
  /** The new flow's sentinel (`sentinel/chat-requirements/prepare`, then `…/finalize`). */
  | 'sentinel_prepare'
  | 'sentinel_finalize'
  | 'proof_of_work'
  /** `f/conversation/prepare`, which issues the conduit token. */
  | 'conversation_prepare'
  | 'conversation'
  | 'refresh'
  | 'models'
  | 'files'
  | 'download'
  | 'file_fetch'
  /** The WebSocket hand-off of a thinking turn (socket URL, socket, resume). */
  | 'handoff'
  /** A browser request the gateway proxies. */
  | 'gateway';

export interface ApiErrorOptions {
  param?: string | null;
  /** Seconds to send in `Retry-After`. */
  retryAfter?: number;
  /** What went wrong upstream, when it did. */
  upstream?: { step: UpstreamStep; status?: number };
}

/**
 * Every error the API returns: an HTTP status and OpenAI's `{"error": {...}}` envelope.
 * Messages are written for the client and never carry a token.
 */
export class ApiError extends HttpException {
  constructor(
    status: number,
    readonly type: ApiErrorType,
    readonly code: string | null,
    message: string,
    readonly details: ApiErrorOptions = {},
  ) {
    super(errorBody(message, type, code, details.param ?? null), status);
    this.message = message;
  }

  get body(): ApiErrorBody {
    return this.getResponse() as ApiErrorBody;
  }

  /**
   * The catalog's error `name` (error-catalog.ts) with its message parameters filled in. `code` only for an
   * entry that passes a code through (`upstream_answer_error`).
   */
  static of<Name extends ErrorName>(name: Name, params: ErrorParams<Name>, options: ApiErrorOptions & { code?: string } = {}): ApiError {
    const entry = catalogEntry(name);
    const { code, ...details } = options;
    return new ApiError(entry.status, entry.type, code ?? entry.code ?? name, renderMessage(entry.message, params), {
      ...details,
      param: details.param ?? entry.param ?? null,
      retryAfter: details.retryAfter ?? entry.retryAfter,
    });
  }

  static invalidRequest(message: string, code = 'invalid_value', param: string | null = null): ApiError {
    return new ApiError(400, 'invalid_request_error', code, message, { param });
  }

  /**
   * No such route (openai-api.md §1): also what a route that is switched off answers, so that it cannot be
   * told apart from one that does not exist.
   */
  static unknownUrl(request: { method: string; path: string }): ApiError {
    return ApiError.of('unknown_url', { method: request.method, path: request.path });
  }

  static modelNotFound(model: string): ApiError {
    return ApiError.of('model_not_found', { model });
  }

  static noAvailableAccount(): ApiError {
    return ApiError.of('no_available_account', {});
  }

  /** The account store did not answer in time (`StoreUnavailableError`); `store` names it without credentials. */
  static storeUnavailable(store: string): ApiError {
    return ApiError.of('store_unavailable', { store });
  }

  static internal(requestId?: string): ApiError {
    return ApiError.of('internal_error', { requestSuffix: requestId ? ` (request id ${requestId})` : undefined });
  }
}

export function errorBody(message: string, type: ApiErrorType, code: string | null, param: string | null = null): ApiErrorBody {
  return { error: { message, type, param, code } };
}
