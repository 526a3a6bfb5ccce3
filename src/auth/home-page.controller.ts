import { Abstract, Controller, Get, Req, Res, UseGuards } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { Request, Response } from 'express';
import { renderPage } from '../common/views/page-render';
import { AppConfig } from '../config/app-config';
import { WEB_APP_ROUTES } from '../config/reserved-routes';
import { BrowserCookies } from './browser-cookies';
import { isSessionEnded } from './browser-session';
import { publicSession, type StoredBrowserSession } from './browser-session.store';
import { BrowserSignInFlow } from './browser-sign-in.flow';
import { GatewayEnabledGuard } from '../common/http/gateway-enabled.guard';
import { ChatPageRenderer, HomePageRenderer } from './page-hooks';

/**
 * `GET /`: with a session, the chat UI (`ChatPageRenderer`, from the gateway); without, our home page, or
 * with `ENABLE_HOMEPAGE=true` the upstream's (`HomePageRenderer`, from the gateway). A browser whose session has
 * ended (its cookie names none, or its credential turns out dead) is sent to the sign-in form, which says so.
 */
@Controller()
@UseGuards(GatewayEnabledGuard)
export class HomePageController {
  constructor(
    private readonly config: AppConfig,
    private readonly flow: BrowserSignInFlow,
    private readonly cookies: BrowserCookies,
    private readonly modules: ModuleRef,
  ) {}

  @Get()
  async home(@Req() request: Request, @Res() response: Response): Promise<void> {
    const session = await this.flow.current(request);
    if (session) return this.chatPage(session, request, response);
    if (this.flow.hasSessionCookie(request)) return signInAgain(request, response);
    const upstreamHome = this.config.enableHomepage ? this.provided(HomePageRenderer) : null;
    if (upstreamHome) return upstreamHome.render(request, response);
    // The page of FlowGPT itself: the layout's "FlowGPT" alone is its title.
    renderPage(response, 'auth/home', {});
  }

  /** The web app's own routes (`WEB_APP_ROUTES`): the chat UI, or sign-in first. */
  @Get(WEB_APP_ROUTES)
  async appRoute(@Req() request: Request, @Res() response: Response): Promise<void> {
    const session = await this.flow.current(request);
    if (!session || !this.provided(ChatPageRenderer)) return signInAgain(request, response);
    return this.chatPage(session, request, response);
  }

  private async chatPage(session: StoredBrowserSession, request: Request, response: Response): Promise<void> {
    this.cookies.setSession(request, response, session);
    const chat = this.provided(ChatPageRenderer);
    if (!chat) return renderPage(response, 'auth/signed-in', { title: (text) => text.signedIn.title });
    try {
      await chat.render(publicSession(session), request, response);
    } catch (error) {
      // Its credential turned out dead while the page was prepared (the session is ended): a page leads on, not JSON.
      if (!isSessionEnded(error) || response.headersSent || !request.accepts('html')) throw error;
      signInAgain(request, response);
    }
  }

  private provided<T>(hook: Abstract<T>): T | null {
    try {
      return this.modules.get(hook, { strict: false });
    } catch {
      return null;
    }
  }
}

/** To the sign-in form, and back to this page once signed in (the form says why when a session has ended). */
function signInAgain(request: Request, response: Response): void {
  response.redirect(303, `/auth/login?next=${encodeURIComponent(request.path)}`);
}
