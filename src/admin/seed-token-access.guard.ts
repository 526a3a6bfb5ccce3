import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { ApiError } from '../common/errors/api-error';
import { AppConfig } from '../config/app-config';
import { clientAddress } from './admin-auth.guard';
import { AdminAuthService } from './admin-auth.service';
import { AdminSecret } from './admin-secret.service';
import { SeedTokenError } from './seed-token.errors';

/**
 * Who may manage seeds through `/seedtoken`: the holder of the admin secret, as `Authorization: Bearer <secret>`,
 * compared in constant time and throttled per network like every admin sign-in. Never a pool key (gateway.md §2.4,
 * S7). The route exists only with the gateway on and an admin secret set; otherwise it answers as an unknown URL.
 * Refusals read as the panel expects: 403 "Not authenticated" without a bearer, 401 "Invalid authorization" for a
 * wrong one.
 */
@Injectable()
export class SeedTokenAccessGuard implements CanActivate {
  constructor(
    private readonly config: AppConfig,
    private readonly secret: AdminSecret,
    private readonly auth: AdminAuthService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<Request>();
    if (!this.config.enableGateway || !this.secret.enabled) throw ApiError.unknownUrl(request);
    const bearer = /^Bearer\s+(\S+)$/i.exec(request.get('authorization')?.trim() ?? '')?.[1];
    if (bearer === undefined) throw new SeedTokenError(403, 'Not authenticated');
    const check = await this.auth.checkSecret(clientAddress(request), bearer);
    if (check.ok) return true;
    if (check.reason === 'throttled') throw ApiError.of('admin_auth_throttled', {}, { retryAfter: check.retryAfterSec });
    throw new SeedTokenError(401, 'Invalid authorization');
  }
}
