import { Injectable, Logger } from '@nestjs/common';
import { maskSecret } from '../common/util/secrets';
import { isCloudflareChallenge } from '../upstream/upstream-failure';
import { transportDetail, UpstreamClient } from '../upstream/upstream.client';
import { CredentialService } from './credential.service';

/** The account check of the reference's `/auth/refresh` (gateway.md §2.4): it lists the workspaces the token may use. */
const ACCOUNTS_CHECK_PATH = '/backend-api/accounts/check/v4-2023-04-27';
/** A sign-in waits for it; a slower upstream is treated as unreachable. */
const CHECK_TIMEOUT_MS = 10_000;

export type AccessTokenVerdict =
  /** The upstream accepted it (and knows the workspace asked for). */
  | 'accepted'
  /** The upstream refused it (401, or a 403 that is not a Cloudflare challenge): revoked, signed out, forged. */
  | 'refused'
  /** Accepted, but the workspace named after the comma is not one of the token's accounts. */
  | 'unknownWorkspace'
  /** No verdict: the upstream could not be reached, challenged us, or answered something else. */
  | 'unchecked';

/**
 * Asks chatgpt.com whether an AccessToken typed at the sign-in form still works (gateway.md §3.6): its claims alone
 * say nothing about a revoked or forged token. The call goes out as the account would make it (its fingerprint).
 */
@Injectable()
export class AccessTokenChecker {
  private readonly logger = new Logger('AccessTokenCheck');

  constructor(
    private readonly upstream: UpstreamClient,
    private readonly credentials: CredentialService,
  ) {}

  async check(accessToken: string, chatgptAccountId: string | undefined): Promise<AccessTokenVerdict> {
    const account = this.credentials.accessTokenAccount(accessToken, chatgptAccountId);
    let answer;
    try {
      answer = await this.upstream.request({
        method: 'GET',
        url: `${this.upstream.pickBaseUrl().replace(/\/+$/, '')}${ACCOUNTS_CHECK_PATH}`,
        identity: this.upstream.accountIdentity(account),
        headers: { accept: 'application/json' },
        timeoutMs: CHECK_TIMEOUT_MS,
        step: 'gateway',
      });
    } catch (error) {
      return this.unchecked(accessToken, `unreachable (${transportDetail(error)})`);
    }
    if (isCloudflareChallenge(answer.headers, answer.body)) return this.unchecked(accessToken, 'a Cloudflare challenge');
    if (answer.status === 401 || answer.status === 403) return 'refused';
    if (answer.status !== 200) return this.unchecked(accessToken, `HTTP ${answer.status}`);
    if (!chatgptAccountId) return 'accepted';
    const accounts = accountIdsIn(answer.body);
    if (!accounts) return this.unchecked(accessToken, 'an account list it could not read');
    return accounts.includes(chatgptAccountId) ? 'accepted' : 'unknownWorkspace';
  }

  private unchecked(accessToken: string, why: string): 'unchecked' {
    this.logger.warn(`AccessToken ${maskSecret(accessToken)} could not be checked upstream (${why}): signed in on its claims`);
    return 'unchecked';
  }
}

/** The account ids of an accounts/check answer (its `accounts` keys and their `account_id`s), or null when it is not that shape. */
function accountIdsIn(body: Buffer): string[] | null {
  let accounts: unknown;
  try {
    accounts = (JSON.parse(body.toString('utf8')) as { accounts?: unknown }).accounts;
  } catch {
    return null;
  }
  if (!accounts || typeof accounts !== 'object') return null;
  const entries = Object.entries(accounts as Record<string, { account?: { account_id?: unknown } } | null>);
  return entries.flatMap(([key, entry]) => [key, entry?.account?.account_id].filter((id): id is string => typeof id === 'string'));
}
