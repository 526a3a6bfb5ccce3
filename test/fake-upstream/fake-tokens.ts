import { createHash, randomBytes, randomUUID } from 'node:crypto';

/** The OAuth client id the iOS app uses; the auth server refuses any other (upstream-protocol.md §11). */
export const IOS_CLIENT_ID = 'pdlLIX2Y72MIl2rhLhTE9VV9bN905kBh';
export const OAUTH_SCOPE = 'openid email profile offline_access model.request model.read organization.read';
export const DEFAULT_ACCESS_TTL_SEC = 864_000;

export type Persona = 'chatgpt-paid' | 'chatgpt-freeaccount';

export interface AccessTokenOptions {
  email?: string;
  userId?: string;
  accountId?: string;
  plan?: string;
  /** The account's phone number, as `/backend-api/me` shows it (null by default). */
  phone?: string;
  expiresInSec?: number;
  persona?: Persona;
  /** Team workspaces the user also belongs to; listed by accounts/check. */
  teamAccountIds?: string[];
}

export interface RefreshTokenOptions {
  /** A 45-character token as the reference knows them; otherwise a newer `rt_…` token. */
  legacy?: boolean;
  /** Every exchange returns a new refresh_token and invalidates the old one. */
  rotate?: boolean;
  accessTokenTtlSec?: number;
  /** The identity of the access tokens this refresh token yields (a fresh one by default). */
  account?: AccessTokenOptions;
}

export interface AccountIdentity {
  email: string;
  userId: string;
  accountId: string;
  plan: string;
  persona: Persona;
  teamAccountIds: string[];
  phone?: string;
}

export interface AccessTokenRecord extends AccountIdentity {
  token: string;
  /** Unix seconds. */
  exp: number;
  revoked: boolean;
}

export interface RefreshTokenRecord {
  token: string;
  rotate: boolean;
  accessTokenTtlSec: number;
  identity: AccountIdentity;
  revoked: boolean;
}

export type BearerCheck = { ok: true; record: AccessTokenRecord } | { ok: false; reason: 'missing' | 'invalid_jwt' | 'token_expired' };

const base64url = (value: Buffer | string): string => Buffer.from(value).toString('base64url');
const RANDOM_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

export function randomText(length: number, alphabet = RANDOM_ALPHABET): string {
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[bytes[i] % alphabet.length];
  return out;
}

export function identityFrom(opts: AccessTokenOptions): AccountIdentity {
  const persona = opts.persona ?? (opts.plan === 'free' ? 'chatgpt-freeaccount' : 'chatgpt-paid');
  const plan = opts.plan ?? (persona === 'chatgpt-freeaccount' ? 'free' : 'plus');
  return {
    email: opts.email ?? `user-${randomText(8, 'abcdefghijklmnopqrstuvwxyz0123456789')}@example.com`,
    userId: opts.userId ?? `user-${randomText(24, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789')}`,
    accountId: opts.accountId ?? randomUUID(),
    plan,
    persona,
    teamAccountIds: opts.teamAccountIds ?? [],
    ...(opts.phone ? { phone: opts.phone } : {}),
  };
}

/** Issues and checks the tokens of the fake auth server. Tokens survive `FakeUpstream.reset()`. */
export class TokenRegistry {
  private readonly accessTokens = new Map<string, AccessTokenRecord>();
  private readonly refreshTokens = new Map<string, RefreshTokenRecord>();

  createAccessToken(opts: AccessTokenOptions = {}): string {
    return this.issueAccessToken(identityFrom(opts), opts.expiresInSec ?? DEFAULT_ACCESS_TTL_SEC);
  }

  issueAccessToken(identity: AccountIdentity, ttlSec: number): string {
    const now = Math.floor(Date.now() / 1000);
    const exp = now + ttlSec;
    const header = { alg: 'RS256', kid: '19344e65-bbc9-44d1-a9d0-f957b079bd0e', typ: 'JWT' };
    const payload = {
      aud: ['https://api.openai.com/v1'],
      client_id: 'app_X8zY6vW2pQ9tR3dE7nK1jL5g',
      exp,
      'https://api.openai.com/auth': {
        chatgpt_account_id: identity.accountId,
        chatgpt_compute_residency: 'no_constraint',
        chatgpt_plan_type: identity.plan,
        chatgpt_user_id: identity.userId,
        user_id: identity.userId,
      },
      'https://api.openai.com/profile': { email: identity.email, email_verified: true },
      iat: now,
      iss: 'https://auth.openai.com',
      jti: randomUUID(),
      nbf: now,
      pwd_auth_time: (now - 3600) * 1000,
      scp: OAUTH_SCOPE.split(' '),
      session_id: `authsess_${randomText(24)}`,
      sub: `auth0|${randomText(24, '0123456789abcdef')}`,
    };
    const token = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}.${base64url(randomBytes(256))}`;
    this.accessTokens.set(token, { ...identity, token, exp, revoked: false });
    return token;
  }

  createRefreshToken(opts: RefreshTokenOptions = {}): string {
    const token = opts.legacy ? randomText(45) : `rt_${randomText(43)}.${randomText(43)}`;
    this.refreshTokens.set(token, {
      token,
      rotate: opts.rotate ?? false,
      accessTokenTtlSec: opts.accessTokenTtlSec ?? DEFAULT_ACCESS_TTL_SEC,
      identity: identityFrom(opts.account ?? {}),
      revoked: false,
    });
    return token;
  }

  /** Exchanges a refresh token; null when it is unknown or revoked. */
  exchange(refreshToken: string): { accessToken: string; ttlSec: number; idToken: string; newRefreshToken?: string } | null {
    const record = this.refreshTokens.get(refreshToken);
    if (!record || record.revoked) return null;
    const accessToken = this.issueAccessToken(record.identity, record.accessTokenTtlSec);
    const idToken = this.idTokenFor(record.identity);
    if (!record.rotate) return { accessToken, ttlSec: record.accessTokenTtlSec, idToken };
    record.revoked = true;
    const newRefreshToken = record.token.startsWith('rt_') ? `rt_${randomText(43)}.${randomText(43)}` : randomText(45);
    this.refreshTokens.set(newRefreshToken, { ...record, token: newRefreshToken, revoked: false });
    return { accessToken, ttlSec: record.accessTokenTtlSec, idToken, newRefreshToken };
  }

  /** Whether this refresh token would be exchanged now (known, neither revoked nor spent by a rotation). */
  isLiveRefreshToken(token: string): boolean {
    const record = this.refreshTokens.get(token);
    return record !== undefined && !record.revoked;
  }

  revokeRefreshToken(token: string): void {
    const record = this.refreshTokens.get(token);
    if (record) record.revoked = true;
  }

  revokeAccessToken(token: string): void {
    const record = this.accessTokens.get(token);
    if (record) record.revoked = true;
  }

  /** The identity behind an access token, whatever its state (for setTokenStatus and the like). */
  lookup(token: string): AccessTokenRecord | undefined {
    return this.accessTokens.get(token);
  }

  checkBearer(authorization: string | undefined): BearerCheck {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) return { ok: false, reason: 'missing' };
    const record = this.accessTokens.get(match[1]);
    if (!record || record.revoked) return { ok: false, reason: 'invalid_jwt' };
    if (record.exp <= Date.now() / 1000) return { ok: false, reason: 'token_expired' };
    return { ok: true, record };
  }

  private idTokenFor(identity: AccountIdentity): string {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', kid: 'b1dd3f8f-9926-4f7e-b1c5-9a8d4b5e0f11', typ: 'JWT' };
    const payload = {
      aud: [IOS_CLIENT_ID],
      email: identity.email,
      email_verified: true,
      exp: now + 3600,
      iat: now,
      iss: 'https://auth.openai.com',
      sub: `auth0|${createHash('md5').update(identity.userId).digest('hex').slice(0, 24)}`,
    };
    return `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}.${base64url(randomBytes(256))}`;
  }
}
