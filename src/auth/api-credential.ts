import type { Request } from 'express';
import { parseCredential } from '../token-pool/token-kind';

/** What the API key of a request means (openai-api.md §2). */
export type ApiCredential =
  | { kind: 'pool' }
  | { kind: 'seed'; seed: string }
  | { kind: 'access_token'; token: string; chatgptAccountId?: string }
  | { kind: 'refresh_token'; token: string; chatgptAccountId?: string }
  | { kind: 'session_token'; token: string; chatgptAccountId?: string };

export interface RequestWithCredential extends Request {
  apiCredential?: ApiCredential;
}

/** The key from `Authorization: Bearer …` or `X-Authorization`, if any. */
export function readApiKey(request: Request): string | undefined {
  for (const header of [request.headers.authorization, request.headers['x-authorization']]) {
    const value = Array.isArray(header) ? header[0] : header;
    if (!value) continue;
    const key = value.replace(/^Bearer(?:\s+|$)/i, '').trim();
    if (key) return key;
  }
  return undefined;
}

export function teamAccountHeader(request: Request): string | undefined {
  const value = request.headers['chatgpt-account-id'];
  const id = (Array.isArray(value) ? value[0] : value)?.trim();
  return id || undefined;
}

/**
 * Classifies a key by its shape: a pool key (`AUTHORIZATION`), an account's own AccessToken, RefreshToken or SessionToken
 * (optionally with a Team account id), or else a SeedToken candidate. Whatever `AUTO_SEED` says, only a seed
 * the admin created counts (the guard checks the store), so a mistyped key is refused locally instead of
 * being sent upstream; `AUTO_SEED` only governs the browser side, where a new seed may be minted.
 */
export function classifyApiKey(key: string, options: { isPoolKey: (key: string) => boolean }): ApiCredential {
  if (options.isPoolKey(key)) return { kind: 'pool' };
  const parsed = parseCredential(key);
  if (parsed) return { kind: parsed.kind, token: parsed.token, chatgptAccountId: parsed.chatgptAccountId };
  return { kind: 'seed', seed: key };
}
