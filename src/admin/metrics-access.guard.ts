import { applyDecorators, CanActivate, ExecutionContext, Injectable, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { AdminAuthService } from './admin-auth.service';
import { clientAddress } from './admin-auth.guard';
import { ApiError } from '../common/errors/api-error';
import { AppConfig } from '../config/app-config';

/**
 * `/metrics` answers 404 unless `METRICS_ENABLED=true`, and then only to `Authorization: Bearer <admin secret>`
 * (compared in constant time, wrong guesses throttled per address like every admin sign-in).
 */
@Injectable()
export class MetricsAccessGuard implements CanActivate {
  constructor(
    private readonly config: AppConfig,
    private readonly adminAuth: AdminAuthService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<Request>();
    if (!this.config.metricsEnabled) throw ApiError.unknownUrl(request);
    const bearer = /^Bearer\s+(.+)$/i.exec(request.get('authorization')?.trim() ?? '')?.[1];
    if (bearer === undefined) {
      throw ApiError.of('metrics_key_missing', {});
    }
    const check = await this.adminAuth.checkSecret(clientAddress(request), bearer);
    if (check.ok) return true;
    if (check.reason === 'throttled') throw ApiError.of('admin_auth_throttled', {}, { retryAfter: check.retryAfterSec });
    throw ApiError.of('invalid_admin_key', {});
  }
}

export function MetricsAccess(): MethodDecorator {
  return applyDecorators(UseGuards(MetricsAccessGuard));
}
