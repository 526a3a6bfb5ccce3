import { isHeaderSafe } from '../common/util/header-value';

/** What an upstream credential string is, by its shape (gateway.md §3.1, openai-api.md §2). */
export type TokenKind = 'access_token' | 'refresh_token';

export interface ParsedCredential {
  kind: TokenKind;
  token: string;
  /** Team workspace id from the `token,account_id` or `token:account_id` form. */
  chatgptAccountId?: string;
}

const ACCESS_TOKEN_PREFIXES = ['eyJhbGciOi', 'fk-'];
const LEGACY_REFRESH_TOKEN_LENGTH = 45;
const ACCOUNT_ID_PATTERN = /^[A-Za-z0-9_-]{6,64}$/;

function kindOf(token: string): TokenKind | null {
  // Sent as a bearer header: anything but visible ASCII would fail every request made with it.
  if (!isHeaderSafe(token)) return null;
  if (ACCESS_TOKEN_PREFIXES.some((prefix) => token.startsWith(prefix))) return 'access_token';
  if (token.startsWith('rt_') && token.length > 10) return 'refresh_token';
  if (token.length === LEGACY_REFRESH_TOKEN_LENGTH) return 'refresh_token';
  return null;
}

/**
 * Classifies a real upstream credential, with or without a Team account suffix.
 * Returns null for anything else (a seed, a pool key, garbage).
 */
export function parseCredential(raw: string): ParsedCredential | null {
  const text = raw.trim();
  if (!text) return null;
  const separator = Math.max(text.lastIndexOf(','), text.lastIndexOf(':'));
  if (separator < 0) {
    const kind = kindOf(text);
    return kind ? { kind, token: text } : null;
  }
  const token = text.slice(0, separator).trim();
  const accountId = text.slice(separator + 1).trim();
  const kind = kindOf(token);
  if (!kind || !ACCOUNT_ID_PATTERN.test(accountId)) return null;
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
 * Reads the unverified claims of a JWT AccessToken. Only for bookkeeping (expiry, dedupe, display):
 * the signature is not checked, so nothing here may grant access.
 */
export function readAccessTokenClaims(accessToken: string): AccessTokenClaims {
  const payload = accessToken.split('.')[1];
  if (!payload) return {};
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const profile = (claims['https://api.openai.com/profile'] ?? {}) as Record<string, unknown>;
    const auth = (claims['https://api.openai.com/auth'] ?? {}) as Record<string, unknown>;
    return {
      expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : undefined,
      email: typeof profile.email === 'string' ? profile.email : undefined,
      userId: typeof auth.user_id === 'string' ? auth.user_id : undefined,
      accountId: typeof auth.chatgpt_account_id === 'string' ? auth.chatgpt_account_id : undefined,
      planType: typeof auth.chatgpt_plan_type === 'string' ? auth.chatgpt_plan_type : undefined,
    };
  } catch {
    return {};
  }
}
