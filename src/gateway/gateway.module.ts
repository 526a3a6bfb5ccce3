import { Module } from '@nestjs/common';
import { ChatPageRenderer, HomePageRenderer } from '../auth/page-hooks';
import { PowModule } from '../pow/pow.module';
import { TokenPoolModule } from '../token-pool/token-pool.module';
import { GatewayEnabledGuard } from '../common/http/gateway-enabled.guard';
import { GatewayIdentity } from './gateway-identity';
import { HealthController } from './health.controller';
import { ProxyController } from './proxy.controller';
import { BackendProxyService } from './proxy/backend-proxy.service';
import { ReverseProxyService } from './proxy/reverse-proxy.service';
import { StatsigService } from './proxy/statsig.service';
import { PublicOriginResolver } from './public-origin';
import { AccountIdentifiers } from './seed/account-identifiers.service';
import { SeedGate } from './seed/seed-gate.service';
import { SeedTurns } from './seed/seed-turns.service';
import { ShellService } from './shell/shell.service';
import { TelemetryController } from './telemetry.controller';
import { UpstreamHosts } from './upstream-hosts';
import { BridgeRegistry } from './websocket/bridge-registry';
import { WebSocketBridge } from './websocket/websocket-bridge.service';

/**
 * The browser-facing side: health checks, and with `ENABLE_GATEWAY=true` the reverse proxy of the web app's
 * hosts, the telemetry stubs, the WebSocket bridge and the live chat page (`ShellService`, rendered by the
 * sign-in module's `/` and SPA routes). Browser sessions come from AuthModule's `BrowserSessions`.
 */
@Module({
  imports: [TokenPoolModule, PowModule],
  controllers: [HealthController, TelemetryController, ProxyController],
  providers: [
    GatewayEnabledGuard,
    GatewayIdentity,
    UpstreamHosts,
    PublicOriginResolver,
    ReverseProxyService,
    BackendProxyService,
    StatsigService,
    WebSocketBridge,
    BridgeRegistry,
    ShellService,
    AccountIdentifiers,
    SeedGate,
    SeedTurns,
    // What AuthModule's `/` and app routes render for a signed-in browser.
    {
      provide: ChatPageRenderer,
      inject: [ShellService],
      useFactory: (shell: ShellService): ChatPageRenderer => ({
        render: (session, request, response) => shell.render(request, response, session),
      }),
    },
    // What AuthModule's `/` renders without a session when ENABLE_HOMEPAGE=true: the upstream's logged-out home.
    {
      provide: HomePageRenderer,
      inject: [ShellService],
      useFactory: (shell: ShellService): HomePageRenderer => ({ render: (request, response) => shell.renderSignedOut(request, response) }),
    },
  ],
  exports: [ShellService],
})
export class GatewayModule {}
