import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { identityFrom, type AccessTokenOptions, type AccessTokenRecord, type AccountIdentity, type TokenRegistry } from './fake-tokens';

/** chatgpt.com's next-auth session cookie (gateway-live-ui.md §1). */
export const SESSION_COOKIE = '__Secure-next-auth.session-token';

/** How long a replaced cookie value keeps working, unless a session says otherwise. */
export const DEFAULT_PREVIOUS_VALID_SEC = 3600;
const DEFAULT_SESSION_ACCESS_TTL_SEC = 864_000;
const SESSION_LIFETIME_SEC = 30 * 24 * 3600;

export interface SessionTokenOptions {
  /** The identity of the session's AccessTokens (a fresh one by default). */
  account?: AccessTokenOptions;
  /** The session of an AccessToken the fake already issued: its identity, and that token until it expires. */
  accessToken?: string;
  accessTokenTtlSec?: number;
  /** Every answer sets a new cookie value (next-auth re-encrypts its JWE on each call); default true. */
  rotate?: boolean;
  /** How long a replaced value still works (default an hour; 0: invalid at once). */
  previousValidForSec?: number;
}

interface FakeSession {
  identity: AccountIdentity;
  accessToken: string | null;
  accessTokenTtlSec: number;
  rotate: boolean;
  previousValidForSec: number;
  revoked: boolean;
  /** The newest cookie value. */
  current: string;
}

interface CookieValue {
  session: FakeSession;
  /** Epoch ms after which this value stops working; undefined: for as long as the session lives. */
  validUntil?: number;
}

/**
 * The fake's next-auth: SessionTokens (`__Secure-next-auth.session-token` values) shaped like next-auth's JWE
 * (`{"alg":"dir","enc":"A256GCM"}`, five segments), and `GET /api/auth/session`, which answers a live session with
 * `{user, expires, account, accessToken, authProvider}` and a rotated cookie (`Set-Cookie` with a new value), and
 * anything else with `200 {}`, as next-auth does.
 *
 * Rotation, chosen here: each answer sets a new value; the value it replaces keeps working for
 * `previousValidForSec` (an hour by default), so a client still holding it is not cut off at once, then stops.
 * A session's AccessToken is reused until it expires (or `expireAccessToken` is called), then a new one is issued.
 * `revoke` ends the whole session (every value it ever had), `expireValue` only one value.
 */
export class FakeSessionAuth {
  /** `/api/auth/session` calls answered so far (reset by `reset`). */
  exchanges = 0;
  private readonly values = new Map<string, CookieValue>();

  constructor(private readonly tokens: TokenRegistry) {}

  create(opts: SessionTokenOptions = {}): string {
    const existing = opts.accessToken ? this.tokens.lookup(opts.accessToken) : undefined;
    const identity = existing ? identityOf(existing) : identityFrom(opts.account ?? {});
    const value = newCookieValue();
    const session: FakeSession = {
      identity,
      accessToken: existing?.token ?? null,
      accessTokenTtlSec:
        opts.accessTokenTtlSec ?? (existing ? Math.max(60, existing.exp - Math.floor(Date.now() / 1000)) : DEFAULT_SESSION_ACCESS_TTL_SEC),
      rotate: opts.rotate ?? true,
      previousValidForSec: opts.previousValidForSec ?? DEFAULT_PREVIOUS_VALID_SEC,
      revoked: false,
      current: value,
    };
    this.values.set(value, { session });
    return value;
  }

  /** The session's newest cookie value (the one a browser would hold now). */
  currentValue(value: string): string | undefined {
    return this.values.get(value)?.session.current;
  }

  /** The session's current AccessToken, if one was issued. */
  accessTokenOf(value: string): string | undefined {
    return this.values.get(value)?.session.accessToken ?? undefined;
  }

  /** Signs the session out: every value it had answers `{}` from now on. */
  revoke(value: string): void {
    const entry = this.values.get(value);
    if (entry) entry.session.revoked = true;
  }

  /** Only this value stops working (as when a replaced value's grace period ends). */
  expireValue(value: string): void {
    const entry = this.values.get(value);
    if (entry) entry.validUntil = 0;
  }

  /**
   * The session's current AccessToken expires now: the upstream refuses it, and the next session call issues a new
   * one, living `nextTtlSec` when given (a test whose app clock runs ahead needs the next one to outlive it).
   */
  expireAccessToken(value: string, options: { nextTtlSec?: number } = {}): void {
    const entry = this.values.get(value);
    if (entry && options.nextTtlSec !== undefined) entry.session.accessTokenTtlSec = options.nextTtlSec;
    const accessToken = this.accessTokenOf(value);
    const record = accessToken ? this.tokens.lookup(accessToken) : undefined;
    if (record) record.exp = Math.floor(Date.now() / 1000) - 1;
  }

  reset(): void {
    this.exchanges = 0;
  }

  /** The account signed in by a `Cookie` header (the web app's page), without rotating anything. */
  accountFor(cookieHeader: string | undefined): AccessTokenRecord | null {
    const session = this.live(cookieValueOf(cookieHeader));
    return session ? (this.tokens.lookup(this.accessTokenFor(session)) ?? null) : null;
  }

  /** Answers `GET /api/auth/session`; false for any other request. */
  route(r: { method: string; path: string; headers: IncomingHttpHeaders }, res: ServerResponse): boolean {
    if (r.method !== 'GET' || r.path !== '/api/auth/session') return false;
    this.exchanges++;
    const presented = cookieValueOf(r.headers.cookie);
    const session = this.live(presented);
    if (!session || !presented) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
      return true;
    }
    const accessToken = this.accessTokenFor(session);
    const headers: Record<string, string | string[]> = { 'content-type': 'application/json', 'cache-control': 'no-store' };
    if (session.rotate) {
      const next = newCookieValue();
      for (const entry of this.values.values()) {
        if (entry.session === session && entry.validUntil === undefined) entry.validUntil = Date.now() + session.previousValidForSec * 1000;
      }
      this.values.set(next, { session });
      session.current = next;
      headers['set-cookie'] =
        `${SESSION_COOKIE}=${next}; Path=/; Expires=${new Date(Date.now() + SESSION_LIFETIME_SEC * 1000).toUTCString()}; HttpOnly; Secure; SameSite=Lax`;
    }
    const { identity } = session;
    res.writeHead(200, headers);
    res.end(
      JSON.stringify({
        user: {
          id: identity.userId,
          name: identity.email.split('@')[0],
          email: identity.email,
          image: null,
          picture: null,
          idp: 'auth0',
          iat: Math.floor(Date.now() / 1000),
          mfa: false,
          amr: ['pwd'],
        },
        expires: new Date(Date.now() + SESSION_LIFETIME_SEC * 1000).toISOString(),
        account: { id: identity.accountId, planType: identity.plan, structure: 'personal', residencyRegion: 'no_constraint' },
        accessToken,
        authProvider: 'openai',
      }),
    );
    return true;
  }

  private live(value: string | undefined): FakeSession | null {
    const entry = value ? this.values.get(value) : undefined;
    if (!entry || entry.session.revoked) return null;
    if (entry.validUntil !== undefined && entry.validUntil <= Date.now()) return null;
    return entry.session;
  }

  /** The session's AccessToken, a new one when there is none yet or it has expired. */
  private accessTokenFor(session: FakeSession): string {
    const record = session.accessToken ? this.tokens.lookup(session.accessToken) : undefined;
    if (record && !record.revoked && record.exp > Date.now() / 1000) return record.token;
    session.accessToken = this.tokens.issueAccessToken(session.identity, session.accessTokenTtlSec);
    return session.accessToken;
  }
}

/** A compact JWE as next-auth writes it: `"alg":"dir"` (so an empty key segment), a 12-byte IV, ciphertext, a 16-byte tag. */
function newCookieValue(): string {
  const header = Buffer.from(JSON.stringify({ alg: 'dir', enc: 'A256GCM' })).toString('base64url');
  return [
    header,
    '',
    randomBytes(12).toString('base64url'),
    randomBytes(600).toString('base64url'),
    randomBytes(16).toString('base64url'),
  ].join('.');
}

function cookieValueOf(cookieHeader: string | undefined): string | undefined {
  return /(?:^|;\s*)__Secure-next-auth\.session-token=([^;]+)/.exec(cookieHeader ?? '')?.[1];
}

function identityOf(record: AccessTokenRecord): AccountIdentity {
  const { email, userId, accountId, plan, persona, teamAccountIds } = record;
  return { email, userId, accountId, plan, persona, teamAccountIds };
}
