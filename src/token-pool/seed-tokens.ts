import { Inject, Injectable, Logger } from '@nestjs/common';
import { maskSecret } from '../common/util/secrets';
import { PoolAdmin } from './pool-admin';
import type { AccountRecord } from './pool.types';
import { SeedRegistry } from './seed-registry';
import { ACCOUNT_STORE, type AccountStore } from './stores/account-store';

/**
 * Seeds as an external user-management panel sees them (gateway.md §2.4): each seed stands for a credential. Binding
 * one adds the credential to the pool (as an upload does) and binds the seed to its account; reading one answers the
 * credential of the account the seed is bound to now.
 */
@Injectable()
export class SeedTokens {
  private readonly logger = new Logger(SeedTokens.name);

  constructor(
    @Inject(ACCOUNT_STORE) private readonly store: AccountStore,
    private readonly accounts: PoolAdmin,
    private readonly seeds: SeedRegistry,
  ) {}

  /**
   * Adds `token` to the pool unless an account holds it already, and binds the seed to that account; an existing seed
   * keeps its conversations. Throws `invalid_seed` (400) for a seed outside the seed rules.
   */
  async bind(seed: string, token: string): Promise<{ accountId: string } | 'invalid_token' | 'expired_token'> {
    // Before the token joins the pool: a refused seed must leave the pool as it was.
    this.seeds.checkSeed(seed);
    const added = await this.accounts.addAccount(token);
    if (added === 'invalid') return 'invalid_token';
    if (added === 'expired') return 'expired_token';
    const stored = await this.seeds.bindSeed(seed, added.accountId);
    this.logger.log(`Seed ${maskSecret(stored)} bound to account ${added.accountId} (${maskSecret(token.trim())})`);
    return added;
  }

  /**
   * The credential (masked) of the account the seed is bound to now: the newest value of a RefreshToken or SessionToken that
   * rotated, with `,<workspace id>` for a Team account. Null when the seed is bound to no stored account; undefined for
   * an unknown seed.
   */
  async tokenOf(seed: string): Promise<string | null | undefined> {
    const record = await this.seeds.findSeed(seed);
    if (!record) return undefined;
    return record.accountId ? credentialOf(await this.store.getAccount(record.accountId)) : null;
  }

  /** Every seed with its credential (see `tokenOf`), oldest seed first. */
  async tokens(): Promise<Record<string, string | null>> {
    const byId = new Map((await this.store.listAccounts()).map((account) => [account.id, account]));
    const answer: Record<string, string | null> = {};
    for (const record of await this.seeds.seedRecords())
      answer[record.seed] = record.accountId ? credentialOf(byId.get(record.accountId) ?? null) : null;
    return answer;
  }

  async remove(seed: string): Promise<boolean> {
    const removed = await this.seeds.removeSeed(seed);
    if (removed) this.logger.log(`Seed ${maskSecret(seed.trim())} removed`);
    return removed;
  }

  /** Removes every seed; the accounts and their conversations upstream stay. */
  async clear(): Promise<number> {
    const removed = await this.seeds.clearSeeds();
    this.logger.log(`All seeds removed (${removed})`);
    return removed;
  }
}

/**
 * Masked as everywhere else the admin sees accounts: the panel sent the credential and has no need of it back, and a
 * whole list in clear would turn the admin secret into an export of every RefreshToken and SessionToken of the pool.
 */
function credentialOf(account: AccountRecord | null): string | null {
  if (!account) return null;
  const masked = maskSecret(account.token);
  return account.chatgptAccountId ? `${masked},${account.chatgptAccountId}` : masked;
}
