import { CanActivate, Injectable, NotFoundException } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';

/**
 * The browser gateway's routes (its pages and its reverse proxy) exist only with `ENABLE_GATEWAY=true` (gateway.md
 * §1); otherwise they answer exactly as an unknown URL does (404 `unknown_url`), so they do not even show they exist.
 */
@Injectable()
export class GatewayEnabledGuard implements CanActivate {
  constructor(private readonly config: AppConfig) {}

  canActivate(): boolean {
    if (!this.config.enableGateway) throw new NotFoundException();
    return true;
  }
}
