import { Controller, Get, Next, Param, Req, Res } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { PrefixGuessThrottle } from '../common/http/prefix-guess.throttle';
import { isReservedRoute } from '../config/reserved-routes';
import { clientAddress } from './admin-auth.guard';
import { AdminAuthService } from './admin-auth.service';
import { AdminSecret } from './admin-secret.service';
import { setSessionCookie } from './admin-session.store';

/**
 * `GET /{API_PREFIX}` signs in when API_PREFIX is the admin secret (gateway.md §2.3, the reference's entry).
 * Any other single-segment path is none of ours and goes on to the routes registered after this one.
 */
@Controller()
export class AdminEntryController {
  constructor(
    private readonly secret: AdminSecret,
    private readonly auth: AdminAuthService,
    private readonly guesses: PrefixGuessThrottle,
  ) {}

  @Get(':entry')
  async enter(
    @Param('entry') entry: string,
    @Req() request: Request,
    @Res() response: Response,
    @Next() next: NextFunction,
  ): Promise<void> {
    if (!this.secret.entryPathEnabled || isReservedRoute(entry)) return next();
    const address = clientAddress(request);
    // A locked address is refused even with the right secret, so guessing cannot tell when it has found it.
    if (await this.guesses.isLocked(address)) return next();
    if (!this.secret.matches(entry)) {
      if (!entry.includes('.')) await this.guesses.recordMiss(address);
      return next();
    }
    setSessionCookie(request, response, (await this.auth.openSession(clientAddress(request))).cookieValue);
    response.redirect(303, '/admin');
  }
}
