import { Module } from '@nestjs/common';
import { AuthKeyGuard } from '../common/guards/auth-key.guard';
import { SharedStateModule } from '../common/shared-state/shared-state.module';
import { TokenPoolModule } from '../token-pool/token-pool.module';
import { ApiCredentialGuard } from './api-credential.guard';
import { AccessTokenChecker } from './access-token.checker';
import { BrowserCookies } from './browser-cookies';
import { BrowserSessions } from './browser-session';
import { BrowserSessionStore } from './browser-session.store';
import { BrowserSessionsService } from './browser-sessions.service';
import { BrowserSignIn } from './browser-sign-in.service';
import { BrowserSignInFlow } from './browser-sign-in.flow';
import { CredentialService } from './credential.service';
import { GatewayEnabledGuard } from '../common/http/gateway-enabled.guard';
import { HomePageController } from './home-page.controller';
import { NextAuthController } from './next-auth.controller';
import { SignInPagesController } from './sign-in-pages.controller';

/**
 * Who a request is: API credentials (bearer keys) and browser sessions (the sign-in pages, `/api/auth/*`,
 * and `BrowserSessions` for the gateway's proxy). The browser routes answer 404 unless ENABLE_GATEWAY=true.
 */
@Module({
  imports: [TokenPoolModule, SharedStateModule],
  controllers: [HomePageController, SignInPagesController, NextAuthController],
  providers: [
    CredentialService,
    ApiCredentialGuard,
    AuthKeyGuard,
    GatewayEnabledGuard,
    BrowserCookies,
    BrowserSessionStore,
    AccessTokenChecker,
    BrowserSignIn,
    BrowserSignInFlow,
    BrowserSessionsService,
    { provide: BrowserSessions, useExisting: BrowserSessionsService },
  ],
  // TokenPoolModule re-exported: the credential guard, instantiated in each module that uses it, asks the pool about seeds.
  exports: [CredentialService, AccessTokenChecker, ApiCredentialGuard, AuthKeyGuard, BrowserSessions, GatewayEnabledGuard, TokenPoolModule],
})
export class AuthModule {}
