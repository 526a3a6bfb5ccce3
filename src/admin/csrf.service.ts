import { Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { ApiError } from '../common/errors/api-error';
import { secretsEqual } from '../common/util/secrets';
import { AppConfig } from '../config/app-config';
import type { AdminSession } from './admin-session.store';

/**
 * Refuses cross-site posts to the admin: the session's CSRF token must come back with the request, and
 * an Origin (or, without it, a Referer) header, when the browser sends one, must name this host.
 */
@Injectable()
export class CsrfService {
  private readonly publicHost: string | undefined;
  private readonly allowedHosts: Set<string>;

  constructor(config: AppConfig) {
    this.publicHost = config.publicUrl ? new URL(config.publicUrl).host : undefined;
    this.allowedHosts = new Set(config.allowedHosts.map((host) => host.toLowerCase()));
  }

  assertSameOrigin(request: Request): void {
    const origin = request.get('origin');
    const referer = request.get('referer');
    const source = origin ?? referer;
    if (source === undefined) return;
    if (!this.isOwnHost(hostOf(source), request)) {
      throw new ApiError(403, 'invalid_request_error', 'cross_site_request', `Refused a cross-site request (${origin ? 'Origin' : 'Referer'} is not this site).`);
    }
  }

  assertToken(session: AdminSession, given: unknown): void {
    if (typeof given === 'string' && secretsEqual(given, session.csrfToken)) return;
    throw new ApiError(403, 'invalid_request_error', 'invalid_csrf_token', 'Missing or wrong CSRF token: reload the page and try again.');
  }

  /**
   * This site is `PUBLIC_URL`'s host, or the host the request was sent to: its Host header, or the
   * X-Forwarded-Host of a proxy in TRUSTED_PROXIES (`request.host` honours it only from those), and with
   * ALLOWED_HOSTS set only one of those hosts. Compares hosts (with port), not schemes: behind a TLS proxy
   * that sends no `X-Forwarded-Proto` the request looks like http while the browser's Origin says https.
   */
  private isOwnHost(host: string | null, request: Request): boolean {
    if (!host) return false;
    if (host === this.publicHost) return true;
    if (this.allowedHosts.size > 0 && !this.allowedHosts.has(host)) return false;
    return [request.get('host'), request.host].some((own) => own?.toLowerCase() === host);
  }
}

function hostOf(url: string): string | null {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.host : null;
  } catch {
    return null;
  }
}
