import { createHash } from 'node:crypto';
import { parseCredential, readAccessTokenClaims, type ParsedCredential } from './token-kind';
import type { AccountRecord, AccountState, UploadResult } from './pool.types';

/** An AccessToken is renewed (or treated as expired) this long before its JWT `exp`. */
export const ACCESS_TOKEN_RENEW_MARGIN_MS = 5 * 60_000;

/** Kinds whose AccessToken is obtained, and renewed, by an exchange (RefreshToken, SessionToken). */
export function isRenewable(kind: AccountRecord['kind']): boolean {
  return kind === 'refresh_token' || kind === 'session_token';
}

/** A short, stable id for a credential; derived by hashing, so it never reveals the token. */
export function accountIdFor(token: string, chatgptAccountId?: string): string {
  return createHash('sha256')
    .update(`${token}\n${chatgptAccountId ?? ''}`)
    .digest('base64url')
    .slice(0, 12);
}

/**
 * The bookkeeping fields an AccessToken's claims give an account in workspace `chatgptAccountId` (its own when
 * undefined). The claimed plan is the plan of the claims' workspace (`chatgpt_account_id`): an account in another
 * one (a Team workspace of the same user) takes none, and learns its own as it is used (`account-plan.ts`).
 */
export function accessTokenFields(
  accessToken: string,
  chatgptAccountId: string | undefined,
): Pick<AccountRecord, 'accessToken' | 'accessTokenExpiresAt' | 'email' | 'userId' | 'plan'> {
  const claims = readAccessTokenClaims(accessToken);
  const ownWorkspace = chatgptAccountId === undefined || chatgptAccountId === claims.accountId;
  return {
    accessToken,
    accessTokenExpiresAt: claims.expiresAt,
    email: claims.email,
    userId: claims.userId,
    plan: ownWorkspace ? claims.planType : undefined,
  };
}

export function newAccountRecord(credential: ParsedCredential, now: number): AccountRecord {
  const record: AccountRecord = {
    id: accountIdFor(credential.token, credential.chatgptAccountId),
    kind: credential.kind,
    token: credential.token,
    chatgptAccountId: credential.chatgptAccountId,
    state: 'active',
    rateLimitStrikes: 0,
    failures: 0,
    addedAt: now,
  };
  if (credential.kind === 'access_token') Object.assign(record, accessTokenFields(credential.token, credential.chatgptAccountId));
  if (accessTokenDead(record, now)) Object.assign(record, { state: 'expired', stateReason: 'access token expired' });
  return dropUndefined(record);
}

/** An AccessToken account whose JWT has expired: it has no way to renew. */
export function accessTokenDead(record: AccountRecord, now: number): boolean {
  return record.kind === 'access_token' && record.accessTokenExpiresAt !== undefined && record.accessTokenExpiresAt <= now;
}

/** How long leases leave an account's refresh alone after the auth server failed it 1, 2, 3+ times in a row. */
export const REFRESH_BACKOFF_MS = [60_000, 5 * 60_000, 30 * 60_000] as const;

/** Whether a failed refresh's back-off still runs: leases neither renew the account nor wait for it. */
export function refreshBackingOff(record: AccountRecord, now: number): boolean {
  return record.refreshRetryAt !== undefined && record.refreshRetryAt > now;
}

/**
 * The account's AccessToken while it still works: not marked expired, not past its `exp` (a renewable account's is
 * still good in its renewal margin, and serves while the auth server is away).
 */
export function liveAccessToken(record: AccountRecord, now: number): string | undefined {
  if (!record.accessToken || record.state === 'expired') return undefined;
  if (record.accessTokenExpiresAt !== undefined && record.accessTokenExpiresAt <= now) return undefined;
  return record.accessToken;
}

/** Whether a lease could use the account now: not one whose refresh is backing off with no working AccessToken. */
export function leasableNow(record: AccountRecord, now: number): boolean {
  return !(needsRefresh(record, now) && refreshBackingOff(record, now) && !liveAccessToken(record, now));
}

/** A RefreshToken or SessionToken account whose AccessToken is missing, marked expired, or close to its `exp`. */
export function needsRefresh(record: AccountRecord, now: number): boolean {
  if (!isRenewable(record.kind) || record.state === 'disabled') return false;
  if (record.state === 'expired' || !record.accessToken) return true;
  return record.accessTokenExpiresAt === undefined || record.accessTokenExpiresAt - ACCESS_TOKEN_RENEW_MARGIN_MS <= now;
}

/**
 * The state as of `now`: a dead AccessToken is expired, also during a rate limit (it can never serve again), and a
 * rate limit whose time has passed is over.
 */
export function effectiveState(record: AccountRecord, now: number): AccountState {
  if (record.state !== 'active' && record.state !== 'rate_limited') return record.state;
  if (accessTokenDead(record, now)) return 'expired';
  return record.state === 'rate_limited' && (record.rateLimitedUntil ?? 0) <= now ? 'active' : record.state;
}

/** Two records for the same upstream user and workspace are one account (read from the unverified JWT). */
/** The JWT user (and workspace) an account belongs to; null when its AccessToken has not told yet. */
export function identityKey(record: AccountRecord): string | null {
  if (!record.userId) return null;
  const workspace = record.chatgptAccountId ?? (record.accessToken ? readAccessTokenClaims(record.accessToken).accountId : undefined);
  return `${record.userId}|${workspace ?? ''}`;
}

/**
 * Turns uploaded lines into new account records, dropping blank lines, `#` comments, strings that are not
 * credentials (reported by line number, counting from 1), and duplicates (of each other or of `existing`): the same
 * credential, or the same JWT user (and Team workspace). A fresh AccessToken of the user of an account in `existing`
 * that is out of service (expired or disabled) is no duplicate: that account takes it (`replacements`), keeping its id
 * and seeds, as an admin who copies a new AccessToken for a dead one expects.
 */
export function recordsFromLines(
  existing: readonly AccountRecord[],
  lines: readonly string[],
  now: number,
): { records: AccountRecord[]; replacements: AccountRecord[]; result: UploadResult } {
  const ids = new Set(existing.map((record) => record.id));
  const tokens = new Set(existing.map((record) => `${record.token}\n${record.chatgptAccountId ?? ''}`));
  const byIdentity = new Map<string, AccountRecord>();
  for (const record of existing) {
    const identity = identityKey(record);
    const known = identity !== null ? byIdentity.get(identity) : undefined;
    // An identity that has a live account already takes no replacement.
    if (identity !== null && (!known || !inService(known, now))) byIdentity.set(identity, record);
  }
  const records: AccountRecord[] = [];
  const replacements: AccountRecord[] = [];
  const result: UploadResult = { added: 0, replaced: 0, duplicates: 0, invalid: 0, invalidLines: [] };
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const credential = parseCredential(line);
    if (!credential) {
      result.invalid++;
      result.invalidLines.push(index + 1);
      continue;
    }
    // One millisecond apart, so that the shared listing order (byAddedAt) is the upload order.
    const record = newAccountRecord(credential, now + records.length);
    const tokenKey = `${record.token}\n${record.chatgptAccountId ?? ''}`;
    const identity = identityKey(record);
    const sameUser = identity !== null ? byIdentity.get(identity) : undefined;
    if (ids.has(record.id) || tokens.has(tokenKey)) {
      result.duplicates++;
      continue;
    }
    if (sameUser) {
      if (inService(sameUser, now) || !inService(record, now)) {
        result.duplicates++;
        continue;
      }
      const replacement = withUploadedAccessToken(sameUser, record);
      replacements.push(replacement);
      byIdentity.set(identity!, replacement);
      tokens.add(tokenKey);
      result.replaced++;
      continue;
    }
    ids.add(record.id);
    tokens.add(tokenKey);
    if (identity !== null) byIdentity.set(identity, record);
    records.push(record);
    result.added++;
  }
  return { records, replacements, result };
}

/** Whether the account serves (active, or rate-limited for a while) rather than being out of service (expired, disabled). */
export function inService(record: AccountRecord, now: number): boolean {
  const state = effectiveState(record, now);
  return state === 'active' || state === 'rate_limited';
}

/**
 * `account` back in service with the AccessToken of `uploaded` (a record of the same user): an AccessToken account
 * takes it as its credential, a RefreshToken or SessionToken account as its current AccessToken (its own credential
 * renews it later, or, if that is dead, disables it again when it is due).
 */
function withUploadedAccessToken(account: AccountRecord, uploaded: AccountRecord): AccountRecord {
  return dropUndefined({
    ...account,
    ...(account.kind === 'access_token' ? { token: uploaded.token } : {}),
    accessToken: uploaded.accessToken,
    accessTokenExpiresAt: uploaded.accessTokenExpiresAt,
    email: uploaded.email ?? account.email,
    plan: uploaded.plan ?? account.plan,
    ...BACK_IN_SERVICE,
  });
}

/** What puts an account back in service: active, with no rate limit, strike or refresh back-off left. */
export const BACK_IN_SERVICE = {
  state: 'active',
  stateReason: undefined,
  rateLimitedUntil: undefined,
  rateLimitStrikes: 0,
  failures: 0,
  refreshRetryAt: undefined,
  refreshFailures: undefined,
} as const satisfies Partial<AccountRecord>;

/** Lists accounts in one order every instance agrees on: upload time, then id. */
export function byAddedAt(a: AccountRecord, b: AccountRecord): number {
  return a.addedAt - b.addedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** JSON drops undefined fields anyway; dropping them here keeps in-memory and stored records equal. */
export function dropUndefined<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] === undefined) delete value[key];
  return value;
}
