import { HttpException } from '@nestjs/common';

export type ApiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'rate_limit_error'
  | 'upstream_error'
  | 'server_error';

export interface ApiErrorBody {
  error: { message: string; type: ApiErrorType; param: string | null; code: string | null };
}

/** The step of the upstream exchange that failed, so logs and messages say where it broke. */
export type UpstreamStep = 'requirements' | 'proof_of_work' | 'conversation' | 'refresh' | 'models' | 'files' | 'download' | 'file_fetch';

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

  static invalidRequest(message: string, code = 'invalid_value', param: string | null = null): ApiError {
    return new ApiError(400, 'invalid_request_error', code, message, { param });
  }

  static invalidApiKey(message = 'Invalid or missing API key.'): ApiError {
    return new ApiError(401, 'invalid_request_error', 'invalid_api_key', message);
  }

  static notFound(message: string, code = 'not_found'): ApiError {
    return new ApiError(404, 'invalid_request_error', code, message);
  }

  static modelNotFound(model: string): ApiError {
    return new ApiError(404, 'invalid_request_error', 'model_not_found', `The model \`${model}\` does not exist or you do not have access to it.`, {
      param: 'model',
    });
  }

  static rateLimited(message: string, retryAfter?: number): ApiError {
    return new ApiError(429, 'rate_limit_error', 'rate_limit_exceeded', message, { retryAfter });
  }

  static noAvailableAccount(): ApiError {
    return new ApiError(503, 'server_error', 'no_available_account', 'No account in the pool is available right now. Try again later.');
  }

  /** The account store did not answer in time (`StoreUnavailableError`); `store` names it without credentials. */
  static storeUnavailable(store: string): ApiError {
    return new ApiError(503, 'server_error', 'store_unavailable', `The account store (${store}) is not answering; try again shortly.`, { retryAfter: 5 });
  }

  static upstream(status: number, code: string, message: string, upstream: ApiErrorOptions['upstream']): ApiError {
    return new ApiError(status, 'upstream_error', code, message, { upstream });
  }

  static internal(requestId?: string): ApiError {
    const suffix = requestId ? ` (request id ${requestId})` : '';
    return new ApiError(500, 'server_error', 'internal_error', `The server had an error while processing your request${suffix}.`);
  }
}

export function errorBody(message: string, type: ApiErrorType, code: string | null, param: string | null = null): ApiErrorBody {
  return { error: { message, type, param, code } };
}
