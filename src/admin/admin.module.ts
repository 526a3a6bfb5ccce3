import { Module } from '@nestjs/common';
import { SharedStateModule } from '../common/shared-state/shared-state.module';
import { TokenPoolModule } from '../token-pool/token-pool.module';
import { AdminApiController } from './admin-api.controller';
import { AdminAuthGuard } from './admin-auth.guard';
import { AdminAuthService } from './admin-auth.service';
import { AdminDashboardService } from './admin-dashboard.service';
import { AdminEntryController } from './admin-entry.controller';
import { AdminPageController } from './admin-page.controller';
import { AdminPageFilter } from './admin-page.filter';
import { AdminSecret } from './admin-secret.service';
import { AdminSessionStore } from './admin-session.store';
import { AdminSigningKey } from './admin-signing-key';
import { AdminViews } from './admin-views.service';
import { CsrfService } from './csrf.service';
import { LoginThrottle } from './login-throttle.service';
import { MetricsAccessGuard } from './metrics-access.guard';
import { MetricsController } from './metrics.controller';
import { SeedTokenAccessGuard } from './seed-token-access.guard';
import { SeedTokenController } from './seed-token.controller';

/**
 * The dashboard at /admin and the JSON admin API at /admin/api (issue 4); 404 unless an admin secret is set.
 * Also `GET /metrics`, which checks the same secret with the same per-address throttle, and the panels' `/seedtoken`
 * (gateway.md §2.4; only with the gateway on).
 */
@Module({
  imports: [TokenPoolModule, SharedStateModule],
  // The entry controller's `/:entry` comes last so that it never shadows a fixed path.
  controllers: [AdminPageController, AdminApiController, MetricsController, SeedTokenController, AdminEntryController],
  providers: [
    AdminSecret,
    LoginThrottle,
    AdminSigningKey,
    AdminSessionStore,
    CsrfService,
    AdminAuthService,
    AdminAuthGuard,
    AdminViews,
    AdminDashboardService,
    AdminPageFilter,
    MetricsAccessGuard,
    SeedTokenAccessGuard,
  ],
  // File links seal the AccessTokens they keep under a key derived from this one.
  exports: [AdminSigningKey],
})
export class AdminModule {}
