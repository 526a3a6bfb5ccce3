import { Body, Controller, Get, Param, Post, Query, Redirect, Req, Res, UseFilters } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiError } from '../common/errors/api-error';
import { LargeBody, ReadsBody } from '../common/http/request-body';
import { pluralise } from '../common/util/pluralise';
import { AppConfig } from '../config/app-config';
import { AdminAccess, clientAddress, CurrentAdminSession } from './admin-auth.guard';
import { AdminAuthService } from './admin-auth.service';
import { AdminDashboardService, dashboardUrlFor, pageNumber } from './admin-dashboard.service';
import { AdminPageFilter } from './admin-page.filter';
import {
  AdminSession,
  AdminSessionStore,
  clearEntryCookie,
  clearSessionCookie,
  entryCookieOf,
  Flash,
  setSessionCookie,
} from './admin-session.store';
import { AdminViews } from './admin-views.service';
import { AccountActionFormDto, SeedFormDto, SignInFormDto, UploadFormDto } from './dto/admin-form.dto';

/** The dashboard, its sign-in form and its form actions; every action redirects back with a flash message. */
@Controller('admin')
@UseFilters(AdminPageFilter)
export class AdminPageController {
  constructor(
    private readonly auth: AdminAuthService,
    private readonly sessions: AdminSessionStore,
    private readonly dashboard: AdminDashboardService,
    private readonly views: AdminViews,
    private readonly config: AppConfig,
  ) {}

  @Get('login')
  @AdminAccess('sign-in')
  async signInPage(@Req() request: Request, @Query('ended') ended: unknown, @Res() response: Response): Promise<void> {
    if (await this.sessions.fromRequest(request)) return response.redirect(303, '/admin');
    this.views.send(response, 'admin/login', { title: (text) => text.admin.signInTitle, sessionEnded: ended === '1' });
  }

  @Post('login')
  @ReadsBody()
  @AdminAccess('sign-in')
  async signIn(@Body() form: SignInFormDto, @Req() request: Request, @Res() response: Response): Promise<void> {
    const outcome = await this.auth.signIn(clientAddress(request), form.secret, await this.sessions.fromRequest(request));
    if (outcome.ok) {
      setSessionCookie(request, response, this.config, outcome.cookieValue);
      return response.redirect(303, '/admin');
    }
    if (outcome.reason === 'throttled') {
      const minutes = Math.ceil(outcome.retryAfterSec / 60);
      throw ApiError.of('sign_in_throttled', { wait: pluralise(minutes, 'minute') }, { retryAfter: outcome.retryAfterSec });
    }
    this.views.send(response, 'admin/login', { title: (text) => text.admin.signInTitle, wrongSecret: true }, 401);
  }

  /** The `/{API_PREFIX}` entry's redirect: its session becomes the browser's, and the one the browser held ends. */
  @Get('enter')
  @AdminAccess('sign-in')
  async enter(@Req() request: Request, @Res() response: Response): Promise<void> {
    const handover = entryCookieOf(request);
    clearEntryCookie(request, response, this.config);
    const cookieValue = await this.auth.takeOver(handover, await this.sessions.fromRequest(request));
    if (cookieValue) setSessionCookie(request, response, this.config, cookieValue);
    response.redirect(303, '/admin');
  }

  @Post('logout')
  @AdminAccess('page')
  @Redirect('/admin/login', 303)
  async signOut(
    @CurrentAdminSession() session: AdminSession,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ): Promise<void> {
    await this.sessions.destroy(session);
    clearSessionCookie(request, response, this.config);
  }

  @Get()
  @AdminAccess('page')
  async home(@CurrentAdminSession() session: AdminSession, @Query('page') page: unknown, @Res() response: Response): Promise<void> {
    const model = await this.dashboard.model(pageNumber(page));
    this.views.send(response, 'admin/dashboard', {
      ...model,
      title: (text) => text.admin.dashboardTitle,
      signedIn: true,
      csrfToken: session.csrfToken,
      flash: await this.sessions.takeFlash(session),
    });
  }

  @Post('tokens')
  @ReadsBody()
  @AdminAccess('page')
  @LargeBody()
  @Redirect('/admin', 303)
  upload(@Body() form: UploadFormDto, @CurrentAdminSession() session: AdminSession): Promise<void> {
    return this.flash(session, this.dashboard.upload(form.tokens));
  }

  @Post('tokens/clear')
  @AdminAccess('page')
  @Redirect('/admin', 303)
  clear(@CurrentAdminSession() session: AdminSession): Promise<void> {
    return this.flash(session, this.dashboard.clear());
  }

  @Post('tokens/:id/remove')
  @ReadsBody()
  @AdminAccess('page')
  @Redirect('/admin', 303)
  async remove(
    @Param('id') id: string,
    @Body() form: AccountActionFormDto,
    @CurrentAdminSession() session: AdminSession,
  ): Promise<{ url: string }> {
    await this.flash(session, this.dashboard.remove(id));
    return { url: dashboardUrlFor(pageNumber(form.page)) };
  }

  @Post('tokens/:id/restore')
  @ReadsBody()
  @AdminAccess('page')
  @Redirect('/admin', 303)
  async restore(
    @Param('id') id: string,
    @Body() form: AccountActionFormDto,
    @CurrentAdminSession() session: AdminSession,
  ): Promise<{ url: string }> {
    await this.flash(session, this.dashboard.restore(id));
    return { url: dashboardUrlFor(pageNumber(form.page)) };
  }

  @Post('tokens/:id/refresh')
  @ReadsBody()
  @AdminAccess('page')
  @Redirect('/admin', 303)
  async refreshOne(
    @Param('id') id: string,
    @Body() form: AccountActionFormDto,
    @CurrentAdminSession() session: AdminSession,
  ): Promise<{ url: string }> {
    await this.flash(session, this.dashboard.refreshOne(id));
    return { url: dashboardUrlFor(pageNumber(form.page)) };
  }

  @Post('refresh')
  @AdminAccess('page')
  @Redirect('/admin', 303)
  refreshAll(@CurrentAdminSession() session: AdminSession): Promise<void> {
    return this.flash(session, this.dashboard.refreshAll());
  }

  @Post('seeds')
  @ReadsBody()
  @AdminAccess('page')
  @Redirect('/admin', 303)
  createSeed(@Body() form: SeedFormDto, @CurrentAdminSession() session: AdminSession): Promise<void> {
    return this.flash(session, this.dashboard.createSeed(form.seed));
  }

  @Post('seeds/remove')
  @ReadsBody()
  @AdminAccess('page')
  @Redirect('/admin', 303)
  removeSeed(@Body() form: SeedFormDto, @CurrentAdminSession() session: AdminSession): Promise<void> {
    return this.flash(session, this.dashboard.removeSeed(form.seed));
  }

  @Post('seeds/clear')
  @AdminAccess('page')
  @Redirect('/admin', 303)
  clearSeeds(@CurrentAdminSession() session: AdminSession): Promise<void> {
    return this.flash(session, this.dashboard.clearSeeds());
  }

  @Post('seeds/:id/remove')
  @AdminAccess('page')
  @Redirect('/admin', 303)
  removeSeedById(@Param('id') id: string, @CurrentAdminSession() session: AdminSession): Promise<void> {
    return this.flash(session, this.dashboard.removeSeedById(id));
  }

  /** Shows the action's outcome on the dashboard; a refusal from the pool (a bad seed, a busy store) too. */
  private async flash(session: AdminSession, action: Promise<Flash>): Promise<void> {
    try {
      await this.sessions.setFlash(session, await action);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      await this.sessions.setFlash(session, { kind: 'error', key: 'flash.refused', params: { message: error.body.error.message } });
    }
  }
}
