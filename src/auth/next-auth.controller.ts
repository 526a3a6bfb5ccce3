import { Body, Controller, Get, HttpCode, Post, Redirect, Req, Res, UseGuards } from '@nestjs/common';
import type { Request, Response } from 'express';
import { randomBytes } from 'node:crypto';
import { isOwnSiteUrl } from '../common/http/same-origin';
import { ReadsBody } from '../common/http/request-body';
import { AppConfig } from '../config/app-config';
import { BrowserCookies } from './browser-cookies';
import { BrowserSignInFlow } from './browser-sign-in.flow';
import { GatewayEnabledGuard } from '../common/http/gateway-enabled.guard';
import { NextAuthSignInDto } from './dto/sign-in-form.dto';
import { NEXT_AUTH_PROVIDERS, nextAuthSession } from './next-auth';
import { safeCallbackPath } from './safe-redirect';

/**
 * The next-auth endpoints the web app calls, answered here and never proxied (gateway.md §2.2, §6.2): its
 * session (with the stand-in token), providers, a CSRF value it only echoes to these routes, its log sink,
 * its error page, and its sign-in/out posts, which lead to our pages.
 */
@Controller('api/auth')
@UseGuards(GatewayEnabledGuard)
export class NextAuthController {
  constructor(
    private readonly config: AppConfig,
    private readonly flow: BrowserSignInFlow,
    private readonly cookies: BrowserCookies,
  ) {}

  @Get('session')
  async session(@Req() request: Request, @Res({ passthrough: true }) response: Response): Promise<Record<string, unknown>> {
    response.setHeader('Cache-Control', 'no-store');
    const session = await this.flow.current(request);
    if (!session) return {};
    this.cookies.setSession(request, response, session);
    return nextAuthSession(session);
  }

  @Get('providers')
  providers(): typeof NEXT_AUTH_PROVIDERS {
    return NEXT_AUTH_PROVIDERS;
  }

  @Post('providers')
  @HttpCode(200)
  providersByPost(): typeof NEXT_AUTH_PROVIDERS {
    return NEXT_AUTH_PROVIDERS;
  }

  /** next-auth's client wants one; nothing of ours relies on it (our forms carry their own tokens). */
  @Get('csrf')
  csrf(): { csrfToken: string } {
    return { csrfToken: randomBytes(32).toString('hex') };
  }

  /** The client's error log: swallowed, so nothing about users leaves the server. */
  @Post('_log')
  @HttpCode(204)
  log(): void {}

  @Get('error')
  @Redirect('/auth/login', 303)
  error(): void {}

  @Post('signin')
  @HttpCode(200)
  signIn(): { url: string } {
    return { url: '/auth/login' };
  }

  /**
   * next-auth's `signIn(provider)` (the web app's "Log in" button) posts the provider's signinUrl and goes to the
   * answer's `url`: our sign-in page, then back to the page it came from when that is on this site.
   */
  @Post(['signin/:provider', 'callback/:provider'])
  @ReadsBody()
  @HttpCode(200)
  providerSignIn(@Body() form: NextAuthSignInDto, @Req() request: Request): { url: string } {
    const next = safeCallbackPath(form.callbackUrl, (url) => isOwnSiteUrl(request, this.config, url));
    return { url: `/auth/login?next=${encodeURIComponent(next)}` };
  }

  @Post('signout')
  @HttpCode(200)
  signOut(): { url: string } {
    return { url: '/auth/logout' };
  }
}
