import { Global, Module } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { BrowserAccount, BrowserSession, BrowserSessions, BrowserUserKind } from '../../auth/browser-session';
import type { AccountOutcome } from '../../common/vocabulary/account-outcome';

/**
 * For the gateway's tests: sessions made directly from upstream credentials, without the sign-in pages
 * (AuthModule implements the real ones). `signIn` returns the cookie value and the session.
 */
export class TestBrowserSessions extends BrowserSessions {
  private readonly byCookie = new Map<string, BrowserSession>();
  private readonly byStandIn = new Map<string, BrowserSession>();
  private readonly accounts = new Map<string, BrowserAccount>();

  signIn(
    kind: BrowserUserKind,
    account: Omit<BrowserAccount, 'fingerprintKey'> & { fingerprintKey?: string },
  ): { cookie: string; session: BrowserSession } {
    const now = Date.now();
    const session: BrowserSession = {
      id: randomBytes(12).toString('hex'),
      kind,
      standInToken: `fgs-${randomBytes(24).toString('base64url')}`,
      createdAt: now,
      expiresAt: now + 3_600_000,
      ...(kind === 'seed' ? { seedId: randomBytes(6).toString('hex') } : { ownerKey: randomBytes(6).toString('hex') }),
    };
    const cookie = randomBytes(24).toString('base64url');
    this.byCookie.set(cookie, session);
    this.byStandIn.set(session.standInToken, session);
    this.accounts.set(session.id, { fingerprintKey: `test:${account.accessToken.slice(-12)}`, ...account });
    return { cookie, session };
  }

  async fromCookie(cookieValue: string | undefined): Promise<BrowserSession | null> {
    return (cookieValue && this.byCookie.get(cookieValue)) || null;
  }

  async fromStandInToken(token: string): Promise<BrowserSession | null> {
    return this.byStandIn.get(token) ?? null;
  }

  async accountFor(session: BrowserSession): Promise<BrowserAccount> {
    const account = this.accounts.get(session.id);
    if (!account) throw new Error('unknown test session');
    return account;
  }

  async stillSignedIn(session: BrowserSession): Promise<boolean> {
    return this.accounts.has(session.id);
  }

  /** What the gateway reported, in order. */
  readonly reports: { account: BrowserAccount; outcome: AccountOutcome }[] = [];

  async report(_session: BrowserSession, account: BrowserAccount, outcome: AccountOutcome): Promise<void> {
    this.reports.push({ account, outcome });
  }

  /** These sessions last as long as the test. */
  onSessionEnded(): void {}
}

/** Provides `TestBrowserSessions` as the app's `BrowserSessions`. */
@Global()
@Module({
  providers: [TestBrowserSessions, { provide: BrowserSessions, useExisting: TestBrowserSessions }],
  exports: [TestBrowserSessions, BrowserSessions],
})
export class TestBrowserSessionsModule {}
