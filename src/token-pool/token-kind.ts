import { isHeaderSafe } from '../common/util/header-value';
import { isWorkspaceId } from '../common/vocabulary/team-account';

/**
 * What an upstream credential string is, by its shape (gateway.md §3.1, openai-api.md §2). A SessionToken is
 * the value of chatgpt.com's `__Secure-next-auth.session-token` cookie (gateway-live-ui.md §1).
 */
export type TokenKind = 'access_token' | 'refresh_token' | 'session_token';

export interface ParsedCredential {
  kind: TokenKind;
  token: string;
  /** Team workspace id (a UUID) from the `token,account_id` or `token:account_id` form. */
  chatgptAccountId?: string;
}

const ACCESS_TOKEN_PREFIXES = ['eyJhbGciOi', 'fk-'];
const LEGACY_REFRESH_TOKEN_LENGTH = 45;
/**
 * Marks any string as a SessionToken (`st:<cookie value>`), for a session cookie that does not look like
 * next-auth's JWE, should the upstream change its format. The prefix is not part of the stored token.
 */
export const SESSION_TOKEN_PREFIX = 'st:';
/** RFC 6265 cookie-octets: what may stand unquoted as a cookie value. */
const COOKIE_VALUE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+$/;
const MIN_SESSION_TOKEN_LENGTH = 16;
const BASE64URL_SEGMENT = /^[A-Za-z0-9_-]*$/;

/**
 * next-auth's session cookie is a JWE in compact form (`header..iv.ciphertext.tag`, five base64url segments,
 * the key segment empty for `"alg":"dir"`), unlike an AccessToken, a JWS of three. Its header starts like a
 * JWS's (`eyJhbGciOi`), so this is checked first. Any JWE header (`alg` and `enc`) counts, not only `dir`.
 */
export function looksLikeSessionToken(token: string): boolean {
  const segments = token.split('.');
  if (segments.length !== 5 || !token.startsWith('eyJ') || !segments.every((segment) => BASE64URL_SEGMENT.test(segment))) return false;
  if ([0, 2, 3, 4].some((index) => !segments[index])) return false;
  try {
    const header = JSON.parse(Buffer.from(segments[0], 'base64url').toString('utf8')) as unknown;
    return (
      typeof header === 'object' &&
      header !== null &&
      typeof (header as Record<string, unknown>).alg === 'string' &&
      typeof (header as Record<string, unknown>).enc === 'string'
    );
  } catch {
    return false;
  }
}

function kindOf(token: string): TokenKind | null {
  // Sent as a bearer header: anything but visible ASCII would fail every request made with it.
  if (!isHeaderSafe(token)) return null;
  if (looksLikeSessionToken(token)) return 'session_token';
  if (ACCESS_TOKEN_PREFIXES.some((prefix) => token.startsWith(prefix))) return 'access_token';
  if (token.startsWith('rt_') && token.length > 10) return 'refresh_token';
  if (token.length === LEGACY_REFRESH_TOKEN_LENGTH) return 'refresh_token';
  return null;
}

/** A value given with the explicit `st:` prefix: anything that can be sent as a cookie value. */
function explicitSessionToken(token: string): TokenKind | null {
  return token.length >= MIN_SESSION_TOKEN_LENGTH && COOKIE_VALUE.test(token) ? 'session_token' : null;
}

/**
 * Classifies a real upstream credential, with or without a Team account suffix (a UUID, `isWorkspaceId`).
 * Returns null for anything else (a seed, a pool key, garbage), including two tokens joined by a comma: the
 * second is no workspace id, and neither may be lost or sent upstream in its place.
 */
export function parseCredential(raw: string): ParsedCredential | null {
  const text = raw.trim();
  if (!text) return null;
  if (text.startsWith(SESSION_TOKEN_PREFIX)) return withAccountSuffix(text.slice(SESSION_TOKEN_PREFIX.length).trim(), explicitSessionToken);
  return withAccountSuffix(text, kindOf);
}

function withAccountSuffix(text: string, classify: (token: string) => TokenKind | null): ParsedCredential | null {
  const separator = Math.max(text.lastIndexOf(','), text.lastIndexOf(':'));
  if (separator < 0) {
    const kind = classify(text);
    return kind ? { kind, token: text } : null;
  }
  const token = text.slice(0, separator).trim();
  const accountId = text.slice(separator + 1).trim();
  const kind = classify(token);
  if (!kind || !isWorkspaceId(accountId)) return null;
  return { kind, token, chatgptAccountId: accountId };
}

export interface AccessTokenClaims {
  /** Expiry in milliseconds since the epoch. */
  expiresAt?: number;
  email?: string;
  userId?: string;
  accountId?: string;
  planType?: string;
}

/**
 * Reads the unverified claims of a JWT AccessToken. Only for bookkeeping (expiry, dedupe, display, and which accounts
 * a paid-only model is tried on first): the signature is not checked, so nothing here may grant access.
 */
export function readAccessTokenClaims(accessToken: string): AccessTokenClaims {
  const payload = accessToken.split('.')[1];
  if (!payload) return {};
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const profile = (claims['https://api.openai.com/profile'] ?? {}) as Record<string, unknown>;
    const auth = (claims['https://api.openai.com/auth'] ?? {}) as Record<string, unknown>;
    return {
      expiresAt: expiryOf(claims.exp),
      email: typeof profile.email === 'string' ? profile.email : undefined,
      userId: typeof auth.user_id === 'string' ? auth.user_id : undefined,
      accountId: typeof auth.chatgpt_account_id === 'string' ? auth.chatgpt_account_id : undefined,
      planType: typeof auth.chatgpt_plan_type === 'string' ? auth.chatgpt_plan_type : undefined,
    };
  } catch {
    return {};
  }
}

/** The furthest a JavaScript Date reaches either side of the epoch, in milliseconds. */
const DATE_RANGE_MS = 8.64e15;

/** `exp` (seconds) in milliseconds; none when it is no instant a Date can hold (a crafted token), like a missing one. */
function expiryOf(exp: unknown): number | undefined {
  if (typeof exp !== 'number') return undefined;
  const ms = exp * 1000;
  return Number.isFinite(ms) && Math.abs(ms) <= DATE_RANGE_MS ? ms : undefined;
}
