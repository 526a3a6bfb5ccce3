import { CanActivate, Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ApiError } from '../common/errors/api-error';

/** Gateway routes exist only with `ENABLE_GATEWAY=true` (gateway.md §1); otherwise they answer 404 like any unknown path. */
@Injectable()
export class GatewayEnabledGuard implements CanActivate {
  constructor(private readonly config: AppConfig) {}

  canActivate(): boolean {
    if (!this.config.enableGateway) throw ApiError.of('gateway_disabled', {});
    return true;
  }
}
