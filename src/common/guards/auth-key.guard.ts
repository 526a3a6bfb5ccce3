import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { AppConfig } from '../../config/app-config';
import { ApiError } from '../errors/api-error';
import { secretsEqual } from '../util/secrets';

/**
 * With `AUTH_KEY` set, API clients must send it in the `auth_key` header (or `authkey`, since nginx
 * drops headers with underscores by default); compared in constant time.
 */
@Injectable()
export class AuthKeyGuard implements CanActivate {
  constructor(private readonly config: AppConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.config.authKey;
    if (!expected) return true;
    const request = context.switchToHttp().getRequest<Request>();
    const header = request.headers['auth_key'] ?? request.headers['authkey'];
    const given = Array.isArray(header) ? header[0] : header;
    if (given !== undefined && secretsEqual(given, expected)) return true;
    throw ApiError.of('auth_key_invalid', {});
  }
}
