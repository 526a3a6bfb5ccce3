import { Injectable, Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { BrowserAccount } from '../../auth/browser-session';
import { ApiError } from '../../common/errors/api-error';
import type { AccountOutcome } from '../../common/vocabulary/account-outcome';
import type { BrowserFingerprint } from '../../upstream/fingerprint';
import { UpstreamClient } from '../../upstream/upstream.client';
import { accountVerdict } from '../proxy/account-verdict';
import { UpstreamHosts } from '../upstream-hosts';

/**
 * The profile could not be read because the upstream set the account itself aside (`verdict`: its AccessToken
 * refused, the account deactivated): the pool should hear it, and the seed move to another account.
 */
export class ProfileRefused extends Error {
  constructor(
    readonly verdict: AccountOutcome,
    readonly status: number,
  ) {
    super(`profile refused: ${verdict.kind} (HTTP ${status})`);
    this.name = 'ProfileRefused';
  }

  /** What the browser is told when no other account could be used either. */
  toApiError(): ApiError {
    return profileUnavailable(this.status);
  }
}

/** A profile changes rarely; an hour-old name is still the name to hide. */
const PROFILE_TTL_MS = 60 * 60_000;
const PROFILE_PATH = '/backend-api/me';
const WORKSPACES_PATH = '/backend-api/accounts/check/v4-2023-04-27';

/**
 * What a shared (seed) user must never see of the pool account beyond its token: the identifiers in the account's
 * own profile (`/backend-api/me`: user id, email, name, phone, org ids), read once per account and kept for an
 * hour. They join `BrowserAccount.privateIdentifiers`, which every rewritten body, page and frame is scrubbed of.
 */
@Injectable()
export class AccountIdentifiers {
  private readonly logger = new Logger('GatewaySeedScrubber');
  private readonly profiles = new LRUCache<string, string[]>({ max: 2000, ttl: PROFILE_TTL_MS });
  private readonly workspaces = new LRUCache<string, string[]>({ max: 2000, ttl: PROFILE_TTL_MS });

  constructor(
    private readonly upstream: UpstreamClient,
    private readonly hosts: UpstreamHosts,
  ) {}

  /**
   * The account's identifiers. A seed request does not go on without them: when the profile cannot be read the
   * request fails (502) rather than risk showing a name the token's claims do not carry.
   * @throws ProfileRefused when the answer is the upstream's verdict on the account itself
   */
  async of(account: BrowserAccount, fingerprint: BrowserFingerprint): Promise<string[]> {
    const key = account.poolAccountId ?? account.fingerprintKey;
    const known = this.profiles.get(key);
    if (known) return known;
    const answer = await this.read(PROFILE_PATH, account, fingerprint);
    let profile: unknown;
    try {
      profile = answer && answer.status === 200 ? JSON.parse(answer.body.toString('utf8')) : undefined;
    } catch {
      profile = undefined;
    }
    if (!profile || typeof profile !== 'object') {
      this.logger.warn(`profile of account ${key} unreadable (${answer?.status ?? 'unreachable'}): seed request refused`);
      const verdict = answer && accountVerdict(PROFILE_PATH, answer.status, answer.headers, answer.body);
      if (verdict) throw new ProfileRefused(verdict, answer.status);
      throw profileUnavailable(answer?.status);
    }
    const identifiers = identifiersInProfile(profile as Record<string, unknown>);
    this.profiles.set(key, identifiers);
    return identifiers;
  }

  /**
   * The identifiers of the account's workspaces (`accounts/check`): their account ids, the account's user id in each,
   * their organization ids and names, kept for an hour like the profile. Null when they cannot be read: nothing that
   * would carry them is to be kept then.
   */
  async workspacesOf(account: BrowserAccount, fingerprint: BrowserFingerprint): Promise<string[] | null> {
    const key = account.poolAccountId ?? account.fingerprintKey;
    const known = this.workspaces.get(key);
    if (known) return known;
    const answer = await this.read(WORKSPACES_PATH, account, fingerprint);
    try {
      const document = answer && answer.status === 200 ? (JSON.parse(answer.body.toString('utf8')) as unknown) : undefined;
      if (!document || typeof document !== 'object') return null;
      const identifiers = identifiersInWorkspaces(document as Record<string, unknown>, account);
      this.workspaces.set(key, identifiers);
      return identifiers;
    } catch {
      return null;
    }
  }

  /** GET `path` on the backend as the account; null when the upstream could not be reached. */
  private read(path: string, account: BrowserAccount, fingerprint: BrowserFingerprint) {
    return this.upstream
      .request({
        method: 'GET',
        url: `${this.hosts.backendBase()}${path}`,
        // As upstreamIdentityOf builds it (gateway-identity.ts imports this file): the account's cookie jar too.
        identity: {
          accessToken: account.accessToken,
          chatgptAccountId: account.chatgptAccountId,
          fingerprint,
          cookieJar: account.fingerprintKey,
        },
        step: 'gateway',
      })
      .catch(() => null);
  }
}

function profileUnavailable(status: number | undefined): ApiError {
  return ApiError.of('upstream_profile_unavailable', {}, { upstream: { step: 'gateway', status } });
}

/**
 * The profile's identifying values: user id, email, name, phone, picture, and its organizations' ids and names. The
 * picture names the person too: Gravatar's is the MD5 of the email address (anyone can check a guess against it), so
 * the hash is one on its own as well, found wherever the URL is spelt otherwise (escaped in a page, on our `/avatar/`).
 */
export function identifiersInProfile(profile: Record<string, unknown>): string[] {
  const values: unknown[] = [profile.id, profile.email, profile.name, profile.phone_number, profile.picture];
  if (typeof profile.picture === 'string') values.push(...(profile.picture.match(/\b[0-9a-f]{32}\b/gi) ?? []));
  const orgs = (profile.orgs as { data?: unknown } | undefined)?.data;
  if (Array.isArray(orgs)) for (const org of orgs as Array<Record<string, unknown>>) values.push(org?.id, org?.name);
  return [...new Set(values.filter((value): value is string => typeof value === 'string' && value.trim().length > 0))];
}

/** Every workspace's account id (its key too), the account's user id in it, its organization id and name. */
export function identifiersInWorkspaces(document: Record<string, unknown>, account: BrowserAccount): string[] {
  const values: unknown[] = [account.chatgptAccountId];
  const accounts = document.accounts;
  if (accounts && typeof accounts === 'object') {
    for (const [key, entry] of Object.entries(accounts as Record<string, { account?: Record<string, unknown> } | null>)) {
      values.push(key);
      const workspace = entry?.account;
      if (workspace && typeof workspace === 'object')
        values.push(workspace.account_id, workspace.account_user_id, workspace.organization_id, workspace.name);
    }
  }
  return [
    ...new Set(values.filter((value): value is string => typeof value === 'string' && value.trim().length > 0 && value !== 'default')),
  ];
}

/**
 * A JSON answer with every string value that is one of the identifiers (any length: a short name as much as an
 * email, compared without regard to case) replaced by a neutral value. Substrings are the text rewriter's job.
 */
export function scrubJson(document: unknown, identifiers: ReadonlyArray<string>, neutral: (identifier: string) => string): unknown {
  const lowered = new Map(identifiers.map((identifier) => [identifier.trim().toLowerCase(), identifier]));
  const walk = (value: unknown): unknown => {
    if (typeof value === 'string') {
      const identifier = lowered.get(value.trim().toLowerCase());
      return identifier ? neutral(identifier) : value;
    }
    if (Array.isArray(value)) return value.map(walk);
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, walk(inner)]));
    return value;
  };
  return walk(document);
}
