import { Inject, Injectable, Logger } from '@nestjs/common';
import { ApiError } from '../common/errors/api-error';
import { maskSecret } from '../common/util/secrets';
import { Clock } from '../common/vocabulary/clock';
import {
  accessTokenDead,
  accountIdFor,
  BACK_IN_SERVICE,
  identityKey,
  inService,
  isRenewable,
  liveAccessToken,
  newAccountRecord,
  recordsFromLines,
} from './account-record';
import { LOCK_TTL_MS, LOCK_WAIT_MS } from './account-transitions';
import type { AccountRecord, UploadResult } from './pool.types';
import { RefreshTokenExchanger } from './refresh-token.exchanger';
import { SessionTokenExchanger } from './session-token.exchanger';
import { ACCOUNT_STORE, type AccountStore } from './stores/account-store';
import { parseCredential } from './token-kind';

const UPLOAD_LOCK = 'accounts-upload';

/** The admin's changes to the set of accounts: upload, remove, clear, restore. */
@Injectable()
export class PoolAdmin {
  private readonly logger = new Logger(PoolAdmin.name);

  constructor(
    @Inject(ACCOUNT_STORE) private readonly store: AccountStore,
    private readonly exchanger: RefreshTokenExchanger,
    private readonly sessions: SessionTokenExchanger,
    private readonly clock: Clock,
  ) {}

  /** Adds credentials, one per line; blank lines and `#` comments are ignored. One store write per call. */
  async upload(lines: string[]): Promise<UploadResult> {
    const outcome = await this.store.withLock(
      UPLOAD_LOCK,
      LOCK_TTL_MS,
      async () => {
        const now = this.clock.now();
        const { records, replacements, result } = recordsFromLines(await this.store.listAccounts(), lines, now);
        await this.store.addAccounts(records);
        for (const replacement of replacements) {
          const stored = await this.store.updateAccount(replacement.id, (current) => (inService(current, now) ? undefined : replacement));
          if (stored?.accessToken === replacement.accessToken) continue;
          // Back in service meanwhile (a request renewed it, another instance restored it): the upload is a duplicate.
          result.replaced--;
          result.duplicates++;
        }
        return result;
      },
      { waitMs: LOCK_WAIT_MS },
    );
    if (!outcome.acquired) throw ApiError.of('pool_busy', {});
    const { added, replaced, duplicates, invalid } = outcome.value;
    this.logger.log(`Upload: ${added} added, ${replaced} replaced, ${duplicates} duplicates, ${invalid} invalid`);
    return outcome.value;
  }

  /**
   * Adds one credential as an upload does, and answers the account that holds it afterwards: the new account, the one
   * that already held this credential, or the one of the same JWT user (and workspace) that took it or already serves.
   * `'invalid'` when the string is no credential; `'expired'` for an AccessToken whose JWT has expired.
   */
  async addAccount(token: string): Promise<{ accountId: string } | 'invalid' | 'expired'> {
    const text = token.trim();
    const credential = text.startsWith('#') ? null : parseCredential(text);
    if (!credential) return 'invalid';
    const candidate = newAccountRecord(credential, this.clock.now());
    if (accessTokenDead(candidate, this.clock.now())) return 'expired';
    await this.upload([text]);
    const accounts = await this.store.listAccounts();
    const sameCredential = (record: AccountRecord) =>
      record.id === candidate.id ||
      (record.token === candidate.token && (record.chatgptAccountId ?? '') === (candidate.chatgptAccountId ?? ''));
    const identity = identityKey(candidate);
    const sameUser = accounts.filter((record) => identity !== null && identityKey(record) === identity);
    const holder = accounts.find(sameCredential) ?? sameUser.find((record) => inService(record, this.clock.now())) ?? sameUser[0] ?? null;
    // Not stored (removed meanwhile by another admin call): the id it will have, which a later upload gives it.
    return { accountId: holder?.id ?? accountIdFor(candidate.token, candidate.chatgptAccountId) };
  }

  async remove(id: string): Promise<boolean> {
    const account = await this.store.getAccount(id);
    if (!account || !(await this.store.removeAccount(id))) return false;
    this.forgetExchange(account);
    this.logger.log(`Removed account ${id} (${maskSecret(account.token)})`);
    return true;
  }

  async clear(): Promise<number> {
    const accounts = await this.store.listAccounts();
    const count = await this.store.clearAccounts();
    for (const account of accounts) this.forgetExchange(account);
    this.logger.log(`Cleared the pool: ${count} accounts removed`);
    return count;
  }

  /**
   * Puts an account back in service at once, whatever its state and refresh back-off. A RefreshToken or SessionToken
   * account keeps an AccessToken that is still good, and otherwise gets a new one on next use.
   */
  async restore(id: string): Promise<boolean> {
    const now = this.clock.now();
    const restored = await this.store.updateAccount(id, (current) => {
      const next: AccountRecord = { ...current, ...BACK_IN_SERVICE };
      // An expired renewable account's AccessToken was refused or ran out: only a new one serves. (Disabled once refused,
      // it kept none: see `setAccountState`.)
      if (isRenewable(current.kind) && !liveAccessToken(current, now))
        Object.assign(next, { accessToken: undefined, accessTokenExpiresAt: undefined });
      if (accessTokenDead(next, now)) Object.assign(next, { state: 'expired', stateReason: 'access token expired' });
      return next;
    });
    if (restored) this.logger.log(`Restored account ${id} (${maskSecret(restored.token)}): now ${restored.state}`);
    return restored !== null;
  }

  private forgetExchange(account: AccountRecord): void {
    if (account.kind === 'session_token') this.sessions.forget(account.token);
    else this.exchanger.forget(account.token);
  }
}
