import { Body, Controller, Get, Post, Query, Redirect, Req, Res, UseGuards } from '@nestjs/common';
import { ReadsBody } from '../common/http/request-body';
import type { Request, Response } from 'express';
import { requestSource } from '../common/http/same-origin';
import { maskSecret, secretsEqual } from '../common/util/secrets';
import { renderPage } from '../common/views/page-render';
import { AppConfig } from '../config/app-config';
import { BrowserCookies } from './browser-cookies';
import { BrowserSignInFlow, failureView } from './browser-sign-in.flow';
import { SignInFormDto, SignOutFormDto } from './dto/sign-in-form.dto';
import { GatewayEnabledGuard } from '../common/http/gateway-enabled.guard';
import { safeNextPath } from './safe-redirect';

interface LoginPageModel {
  next: string;
  /** The token as typed, kept in the field after a refusal. */
  value?: string;
  error?: { reason: string; minutes?: number; date?: string };
  /** A quick link's token, shown masked, waiting for the visitor's confirmation. */
  confirmMasked?: string;
}

/**
 * The sign-in and sign-out pages (gateway.md §7.2, §7.3) and the reference's quick links. Every sign-in
 * and sign-out is a POST that carries a CSRF token from a same-site page; a quick link acts at once only
 * when the visitor opened it themselves (typed, bookmarked, or from our own pages), and otherwise asks.
 */
@Controller()
@UseGuards(GatewayEnabledGuard)
export class SignInPagesController {
  constructor(
    private readonly config: AppConfig,
    private readonly flow: BrowserSignInFlow,
    private readonly cookies: BrowserCookies,
  ) {}

  @Get('auth/login')
  async signInPage(
    @Query('next') next: unknown,
    @Query('callbackUrl') callbackUrl: unknown,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    const target = safeNextPath(next ?? callbackUrl);
    if (await this.flow.usable(request)) return response.redirect(303, target);
    if (!this.flow.hasSessionCookie(request)) return this.showSignIn(request, response, { next: target });
    // The session this browser held has ended (its token expired or stopped working): say so, and forget its cookie.
    this.cookies.clearSession(request, response);
    this.showSignIn(request, response, { next: target, error: { reason: 'sessionEnded' } });
  }

  @Post('auth/login')
  @ReadsBody()
  async signIn(@Body() form: SignInFormDto, @Req() request: Request, @Res() response: Response): Promise<void> {
    const next = safeNextPath(form.next);
    // A cross-site post never gets its token echoed back: that would be a login CSRF one click away.
    if (!this.fromOwnForm(request, form._csrf)) return this.showSignIn(request, response, { next, error: { reason: 'formExpired' } }, 403);
    const outcome = await this.flow.signIn(request, response, form.token);
    if (outcome.ok) return response.redirect(303, next);
    if (outcome.failure.reason === 'throttled') response.setHeader('Retry-After', String(outcome.failure.retryAfterSec));
    this.showSignIn(request, response, { next, value: form.token, error: failureView(outcome.failure) }, outcome.status);
  }

  @Get('auth/logout')
  async signOutPage(@Query('next') next: unknown, @Req() request: Request, @Res() response: Response): Promise<void> {
    const session = await this.flow.current(request);
    if (!session) return response.redirect(303, '/');
    renderPage(response, 'auth/logout', {
      title: (text) => text.signOut.title,
      csrfToken: session.csrfToken,
      cancelUrl: safeNextPath(next),
    });
  }

  @Post('auth/logout')
  @ReadsBody()
  async signOut(@Body() form: SignOutFormDto, @Req() request: Request, @Res() response: Response): Promise<void> {
    const session = await this.flow.current(request);
    if (!session) return response.redirect(303, '/');
    if (requestSource(request, this.config) === 'cross-site' || !secretsEqual(form._csrf, session.csrfToken)) {
      return renderPage(
        response,
        'auth/logout',
        {
          title: (text) => text.signOut.title,
          csrfToken: session.csrfToken,
          cancelUrl: '/',
          error: { reason: 'formExpired' },
          formPage: '/auth/logout',
        },
        403,
      );
    }
    await this.flow.signOut(request, response, session);
    response.redirect(303, '/');
  }

  /** `?signin=<token>`: signs in at once when the visitor navigated to the link themselves, else asks first. */
  @Get('api/auth/signin')
  async quickSignIn(
    @Query('signin') token: unknown,
    @Query('callbackUrl') callbackUrl: unknown,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    const next = safeNextPath(callbackUrl);
    if (typeof token !== 'string' || !token.trim()) return response.redirect(303, '/auth/login');
    if (await this.flow.usable(request)) return response.redirect(303, next);
    if (!openedByVisitor(request))
      return this.showSignIn(request, response, { next, value: token, confirmMasked: maskSecret(token.trim()) });
    const outcome = await this.flow.signIn(request, response, token);
    if (outcome.ok) return response.redirect(303, next);
    this.showSignIn(request, response, { next, value: token, error: failureView(outcome.failure) }, outcome.status);
  }

  /** `?signout=true`: signs out at once when the visitor navigated to the link themselves, else shows the confirmation. */
  @Get('api/auth/signout')
  async quickSignOut(@Query('signout') signout: unknown, @Req() request: Request, @Res() response: Response): Promise<void> {
    const session = await this.flow.current(request);
    if (!session) return response.redirect(303, '/auth/login');
    if (signout !== 'true' || !openedByVisitor(request)) return response.redirect(303, '/auth/logout');
    await this.flow.signOut(request, response, session);
    response.redirect(303, '/');
  }

  /** The web app's own sign-in links (OAuth providers and their callbacks) lead to our sign-in. */
  @Get(['auth/login/:provider', 'api/auth/signin/:provider', 'api/auth/callback/:provider'])
  @Redirect('/auth/login', 303)
  providerSignIn(): void {}

  private fromOwnForm(request: Request, given: unknown): boolean {
    return requestSource(request, this.config) !== 'cross-site' && this.cookies.formTokenMatches(request, given);
  }

  private showSignIn(request: Request, response: Response, model: LoginPageModel, status = 200): void {
    const formToken = this.cookies.issueFormToken(request, response);
    const formPage = `/auth/login?${new URLSearchParams({ next: model.next })}`;
    renderPage(response, 'auth/login', { title: (text) => text.signIn.title, formToken, formPage, ...model }, status);
  }
}

/**
 * The browser says the visitor started this navigation (address bar, bookmark) or one of our pages did
 * (`Sec-Fetch-Site`); another site's link or form cannot claim either. It must be a top-level navigation
 * (`Sec-Fetch-Mode: navigate`, and `Sec-Fetch-Dest: document` from browsers that send it, Chrome 80 on): an `<img>`,
 * a `fetch()` or a frame of a page on this site (the proxied web app's, say) is not the visitor opening the link.
 * Without the headers (an old browser), asks.
 */
function openedByVisitor(request: Request): boolean {
  const site = request.get('sec-fetch-site');
  if (site !== 'none' && site !== 'same-origin') return false;
  const destination = request.get('sec-fetch-dest');
  return request.get('sec-fetch-mode') === 'navigate' && (destination === undefined || destination === 'document');
}
