import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import { ApiError, ApiErrorBody, ApiErrorType, errorBody } from '../errors/api-error';
import { StoreUnavailableError } from '../errors/store-unavailable.error';
import { routeOf } from '../http/route-of';
import { toApiError, UpstreamError } from '../errors/upstream-error';

const TYPE_BY_STATUS: Record<number, ApiErrorType> = {
  401: 'authentication_error',
  429: 'rate_limit_error',
};

const CODE_BY_STATUS: Record<number, string> = {
  400: 'invalid_value',
  401: 'invalid_api_key',
  403: 'forbidden',
  405: 'method_not_allowed',
  413: 'request_too_large',
  429: 'rate_limit_exceeded',
};

/** Renders every error in OpenAI's envelope; never writes to a response whose headers are already out. */
@Catch()
export class OpenAIExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const response = http.getResponse<Response>();
    const request = http.getRequest<Request>();
    if (isClientGone(exception, response)) {
      if (!response.writableEnded) response.end();
      return;
    }
    const { status, body, retryAfter } = this.toErrorResponse(exception, request);

    if (response.headersSent) {
      if (!response.writableEnded) response.end();
      return;
    }
    if (retryAfter !== undefined) response.setHeader('Retry-After', String(retryAfter));
    response.status(status).json(body);
  }

  private toErrorResponse(exception: unknown, request: Request): { status: number; body: ApiErrorBody; retryAfter?: number } {
    if (exception instanceof UpstreamError) return this.toErrorResponse(toApiError(exception), request);
    if (exception instanceof ApiError) {
      return { status: exception.getStatus(), body: exception.body, retryAfter: exception.details.retryAfter };
    }
    if (exception instanceof StoreUnavailableError) {
      this.logger.warn(`${request.method} ${routeOf(request) ?? '(no route)'}: ${exception.message}`);
      const error = ApiError.storeUnavailable(exception.store);
      return { status: error.getStatus(), body: error.body, retryAfter: error.details.retryAfter };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      if (status >= 500) return this.unexpected(exception, request);
      if (status === 404) return { status, body: ApiError.unknownUrl(request).body };
      const type = TYPE_BY_STATUS[status] ?? 'invalid_request_error';
      return { status, body: errorBody(httpMessage(exception), type, CODE_BY_STATUS[status] ?? null) };
    }
    return this.unexpected(exception, request);
  }

  private unexpected(exception: unknown, request: Request): { status: number; body: ApiErrorBody } {
    const requestId = randomUUID();
    const detail = exception instanceof Error ? (exception.stack ?? exception.message) : String(exception);
    this.logger.error(`request ${requestId} ${request.method} ${routeOf(request) ?? '(no route)'} failed: ${detail}`);
    const error = ApiError.internal(requestId);
    return { status: error.getStatus(), body: error.body };
  }
}

function httpMessage(exception: HttpException): string {
  const response = exception.getResponse();
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  if (Array.isArray(message)) return message.join('; ');
  return typeof message === 'string' ? message : exception.message;
}

/** The client went away (its request was aborted): there is nobody to answer and nothing went wrong here. */
function isClientGone(exception: unknown, response: Response): boolean {
  return (
    exception instanceof Error && exception.name === 'AbortError' && (response.destroyed || response.req.destroyed || response.req.aborted)
  );
}
