import { Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { AppConfig } from '../config/app-config';
import { ApiError } from '../common/errors/api-error';
import type { PublicOrigin } from './upstream-hosts';

/**
 * The origin written into rewritten bodies and `Location` headers: `PUBLIC_URL` when set; otherwise the request's
 * host, which must be one of `ALLOWED_HOSTS` when that list is set. Express gives the scheme and host from
 * forwarded headers only for `TRUSTED_PROXIES` (`trust proxy`), so a client cannot choose what we write.
 */
@Injectable()
export class PublicOriginResolver {
  constructor(private readonly config: AppConfig) {}

  of(request: Request): PublicOrigin {
    if (this.config.publicUrl) {
      const url = new URL(this.config.publicUrl);
      return { origin: url.origin, scheme: url.protocol === 'https:' ? 'https' : 'http', host: url.host, fromRequest: false };
    }
    const host = request.host ?? '';
    const allowed = this.config.allowedHosts;
    if (!host || (allowed.length > 0 && !allowed.some((name) => name.toLowerCase() === host.toLowerCase()))) {
      throw ApiError.of('host_not_allowed', {});
    }
    const scheme = request.protocol === 'https' ? 'https' : 'http';
    return { origin: `${scheme}://${host}`, scheme, host, fromRequest: true };
  }

  /**
   * Where the chat page may be, besides the origin a request came to (which may be SANDBOX_HOST or FILE_HOST rather
   * than the page's): `PUBLIC_URL`, or else every host of `ALLOWED_HOSTS`. Never a host the request named unchecked.
   */
  chatPageOrigins(origin: PublicOrigin): string[] {
    return origin.fromRequest ? this.config.allowedHosts.map((host) => `${origin.scheme}://${host}`) : [origin.origin];
  }
}
