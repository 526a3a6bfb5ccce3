import { Controller, Get, Next, Param, Req, Res } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { couldBeApiPrefix, PrefixGuessThrottle } from '../common/http/prefix-guess.throttle';
import { AppConfig } from '../config/app-config';
import { clientAddress } from './admin-auth.guard';
import { AdminAuthService } from './admin-auth.service';
import { AdminSecret } from './admin-secret.service';
import { ADMIN_ENTRY_PATH, setEntryCookie } from './admin-session.store';

/**
 * `GET /{API_PREFIX}` signs in when API_PREFIX is the admin secret (gateway.md §2.3, the reference's entry).
 * Any other single-segment path is none of ours and goes on to the routes registered after this one; one that
 * could be the prefix counts as a guess of it (`PrefixGuessThrottle`, on the entry's own count: page loads
 * never lock a network out of the API).
 */
@Controller()
export class AdminEntryController {
  constructor(
    private readonly secret: AdminSecret,
    private readonly auth: AdminAuthService,
    private readonly guesses: PrefixGuessThrottle,
    private readonly config: AppConfig,
  ) {}

  @Get(':entry')
  async enter(
    @Param('entry') entry: string,
    @Req() request: Request,
    @Res() response: Response,
    @Next() next: NextFunction,
  ): Promise<void> {
    if (!this.secret.entryPathEnabled || !couldBeApiPrefix(entry)) return next();
    const correct = this.secret.matches(entry);
    // A wrong file name (/favicon.ico, /robots.txt) is a browser's request, not a guess, unless the secret has a dot.
    if (!correct && entry.includes('.') && !this.secret.hasDot) return next();
    const address = clientAddress(request);
    const verdict = await this.guesses.judge(address, 'entry', correct);
    if (verdict.outcome !== 'admitted') return next();
    // The browser sends the session cookie it may hold only under /admin (its Path): the new session is handed over
    // there, where that one ends.
    setEntryCookie(request, response, this.config, (await this.auth.openSession(address, null)).cookieValue);
    response.redirect(303, ADMIN_ENTRY_PATH);
  }
}
