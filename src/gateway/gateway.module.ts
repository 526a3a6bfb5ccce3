import { Module } from '@nestjs/common';
import { HealthController } from './health.controller';

/**
 * The browser-facing side. For now it answers health checks; the chat mirror, login pages and
 * reverse proxy of /backend-api arrive with the gateway issue (ENABLE_GATEWAY is accepted but not served).
 */
@Module({ controllers: [HealthController] })
export class GatewayModule {}
