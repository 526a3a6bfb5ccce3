import { CanActivate, Injectable, NotFoundException } from '@nestjs/common';
import { AppConfig } from '../config/app-config';

/** The browser pages exist only with `ENABLE_GATEWAY=true`; otherwise they answer 404 like any unknown URL. */
@Injectable()
export class GatewayEnabledGuard implements CanActivate {
  constructor(private readonly config: AppConfig) {}

  canActivate(): boolean {
    if (!this.config.enableGateway) throw new NotFoundException();
    return true;
  }
}
