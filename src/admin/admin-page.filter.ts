import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiError } from '../common/errors/api-error';
import { StoreUnavailableError } from '../common/errors/store-unavailable.error';
import { OpenAIExceptionFilter } from '../common/filters/openai-exception.filter';
import { routeOf } from '../common/http/route-of';
import type { PageText } from '../common/views/page-text';
import { AdminSignInRequired } from './admin-auth.guard';
import { AdminSecret } from './admin-secret.service';
import { AdminViews } from './admin-views.service';

/**
 * Errors on admin pages, for people: a missing session goes to the sign-in form, a refused form or a store that
 * does not answer gets a short HTML page. JSON clients, a disabled admin (404 like any unknown URL) and unexpected
 * errors (whose details go to the log only) get the API's error shape from the global filter.
 */
@Catch()
export class AdminPageFilter implements ExceptionFilter {
  private readonly fallback = new OpenAIExceptionFilter();
  private readonly logger = new Logger('AdminPage');

  constructor(
    private readonly secret: AdminSecret,
    private readonly views: AdminViews,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const request = host.switchToHttp().getRequest<Request>();
    const response = host.switchToHttp().getResponse<Response>();
    if (exception instanceof AdminSignInRequired) {
      // A form sent without a live session did nothing: the sign-in page says so (a sign-out has nothing to redo).
      const lostAction = !['GET', 'HEAD'].includes(request.method) && request.path !== '/admin/logout';
      return response.redirect(303, lostAction ? '/admin/login?ended=1' : '/admin/login');
    }
    const forPeople = this.secret.enabled && !response.headersSent && request.accepts(['html', 'json']) !== 'json';
    if (forPeople && exception instanceof StoreUnavailableError) {
      this.logger.warn(`${request.method} ${routeOf(request) ?? '(no route)'}: ${exception.message}`);
      exception = ApiError.storeUnavailable(exception.store);
    }
    const status = exception instanceof HttpException ? exception.getStatus() : 500;
    // A server error's own message is shown only when it was written for the client (an ApiError: a busy store).
    if (!forPeople || (status >= 500 && !(exception instanceof ApiError))) return this.fallback.catch(exception, host);
    const message = exception instanceof ApiError ? exception.body.error.message : (exception as HttpException).message;
    if (exception instanceof ApiError && exception.details.retryAfter !== undefined)
      response.setHeader('Retry-After', String(exception.details.retryAfter));
    this.views.send(response, 'admin/problem', { title: (text) => titleFor(status, text), message, status }, status);
  }
}

function titleFor(status: number, text: PageText): string {
  if (status === 403) return text.admin.problemRefused;
  if (status === 404) return text.admin.problemNotFound;
  if (status === 429) return text.admin.problemThrottled;
  if (status === 503) return text.admin.problemUnavailable;
  return text.admin.problemOther;
}
