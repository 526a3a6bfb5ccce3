import { Abstract, Controller, Get, Req, Res, UseGuards } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { Request, Response } from 'express';
import { renderPage } from '../common/views/page-render';
import { AppConfig } from '../config/app-config';
import { WEB_APP_ROUTES } from '../config/reserved-routes';
import { BrowserCookies } from './browser-cookies';
import { publicSession } from './browser-session.store';
import { BrowserSignInFlow } from './browser-sign-in.flow';
import { GatewayEnabledGuard } from '../common/http/gateway-enabled.guard';
import { ChatPageRenderer, HomePageRenderer } from './page-hooks';

/**
 * `GET /`: with a session, the chat UI (`ChatPageRenderer`, from the gateway); without, our home page, or
 * with `ENABLE_HOMEPAGE=true` the upstream's (`HomePageRenderer`, from the gateway).
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
    if (session) {
      this.cookies.setSession(request, response, session);
      const chat = this.provided(ChatPageRenderer);
      if (chat) return chat.render(publicSession(session), request, response);
      return renderPage(response, 'auth/signed-in', { title: (text) => text.signedIn.title });
    }
    const upstreamHome = this.config.enableHomepage ? this.provided(HomePageRenderer) : null;
    if (upstreamHome) return upstreamHome.render(request, response);
    renderPage(response, 'auth/home', { title: (text) => text.home.title });
  }

  /** The web app's own routes (`WEB_APP_ROUTES`): the chat UI, or sign-in first. */
  @Get(WEB_APP_ROUTES)
  async appRoute(@Req() request: Request, @Res() response: Response): Promise<void> {
    const session = await this.flow.current(request);
    const chat = this.provided(ChatPageRenderer);
    if (!session || !chat) return response.redirect(303, `/auth/login?next=${encodeURIComponent(request.path)}`);
    this.cookies.setSession(request, response, session);
    return chat.render(publicSession(session), request, response);
  }

  private provided<T>(hook: Abstract<T>): T | null {
    try {
      return this.modules.get(hook, { strict: false });
    } catch {
      return null;
    }
  }
}
