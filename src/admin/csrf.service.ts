import { Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { ApiError } from '../common/errors/api-error';
import { requestSource } from '../common/http/same-origin';
import { secretsEqual } from '../common/util/secrets';
import { AppConfig } from '../config/app-config';
import type { AdminSession } from './admin-session.store';

/**
 * Refuses cross-site posts to the admin: the session's CSRF token must come back with the request, and
 * an Origin (or, without it, a Referer) header, when the browser sends one, must name this host.
 */
@Injectable()
export class CsrfService {
  constructor(private readonly config: AppConfig) {}

  assertSameOrigin(request: Request): void {
    if (requestSource(request, this.config) !== 'cross-site') return;
    const header = request.get('origin') !== undefined ? 'Origin' : 'Referer';
    throw new ApiError(403, 'invalid_request_error', 'cross_site_request', `Refused a cross-site request (${header} is not this site).`);
  }

  assertToken(session: AdminSession, given: unknown): void {
    if (typeof given === 'string' && secretsEqual(given, session.csrfToken)) return;
    throw new ApiError(403, 'invalid_request_error', 'invalid_csrf_token', 'Missing or wrong CSRF token: reload the page and try again.');
  }
}
