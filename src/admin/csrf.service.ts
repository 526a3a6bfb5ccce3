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
    throw ApiError.of('cross_site_request', { header });
  }

  assertToken(session: AdminSession, given: unknown): void {
    if (typeof given === 'string' && secretsEqual(given, session.csrfToken)) return;
    throw ApiError.of('invalid_csrf_token', {});
  }
}
