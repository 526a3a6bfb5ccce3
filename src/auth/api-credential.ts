import type { Request } from 'express';
import { parseCredential } from '../token-pool/token-kind';

/** What the API key of a request means (openai-api.md §2). */
export type ApiCredential =
  | { kind: 'pool' }
  | { kind: 'seed'; seed: string }
  | { kind: 'access_token'; token: string; chatgptAccountId?: string }
  | { kind: 'refresh_token'; token: string; chatgptAccountId?: string }
  /** A string of no known shape: sent upstream as it is, as the reference does; the upstream decides. */
  | { kind: 'opaque'; token: string; chatgptAccountId?: string };

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
 * Classifies a key: a pool key (`AUTHORIZATION`), a SeedToken (when `AUTO_SEED=false`), an account's own
 * AccessToken or RefreshToken (optionally with a Team account id), or an opaque string.
 */
export function classifyApiKey(key: string, options: { isPoolKey: (key: string) => boolean; autoSeed: boolean }): ApiCredential {
  if (options.isPoolKey(key)) return { kind: 'pool' };
  const parsed = parseCredential(key);
  if (parsed) return { kind: parsed.kind, token: parsed.token, chatgptAccountId: parsed.chatgptAccountId };
  if (!options.autoSeed) return { kind: 'seed', seed: key };
  return { kind: 'opaque', token: key };
}
