import { Module } from '@nestjs/common';
import { TokenPoolModule } from '../token-pool/token-pool.module';
import { HealthController } from './health.controller';

/**
 * The browser-facing side. For now it answers health and readiness checks; the chat mirror, login pages and
 * reverse proxy of /backend-api arrive with the gateway issue (ENABLE_GATEWAY is accepted but not served).
 */
@Module({ imports: [TokenPoolModule], controllers: [HealthController] })
export class GatewayModule {}
