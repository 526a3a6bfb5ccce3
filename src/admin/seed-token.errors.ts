import { ArgumentsHost, Catch, ExceptionFilter, HttpException } from '@nestjs/common';
import type { Response } from 'express';
import { ApiError } from '../common/errors/api-error';
import { OpenAIExceptionFilter } from '../common/filters/openai-exception.filter';

/** A refusal of the seed-management API in the panel's shape (gateway.md §2.4): `{"detail": "…"}`. */
export class SeedTokenError extends HttpException {
  constructor(status: number, detail: string) {
    super({ detail }, status);
  }
}

/**
 * Errors of `/seedtoken` as the panel reads them: `{"detail": "…"}` with the real status, "Invalid JSON data" for a body
 * that did not parse. A route that is off (404 like any unknown URL), a throttled secret (429), an oversized body and
 * server errors keep the API's shape from the global filter.
 */
@Catch()
export class SeedTokenExceptionFilter implements ExceptionFilter {
  private readonly fallback = new OpenAIExceptionFilter();

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    if (response.headersSent) return this.fallback.catch(exception, host);
    if (exception instanceof SeedTokenError) {
      response.status(exception.getStatus()).json(exception.getResponse());
      return;
    }
    if (exception instanceof ApiError && exception.getStatus() === 400) {
      const detail = exception.code === 'invalid_json' ? 'Invalid JSON data' : exception.body.error.message;
      response.status(400).json({ detail });
      return;
    }
    this.fallback.catch(exception, host);
  }
}
