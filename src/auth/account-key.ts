import { createHash } from 'node:crypto';
import { readAccessTokenClaims } from '../token-pool/token-kind';

/**
 * Names an account an API key brings (not a pool account, which has its own id) for everything kept per account: its
 * browser fingerprint and proxy (upstream-protocol.md §2.2: one stable fingerprint per account), its model-cap
 * memory and its cookie jar. It is the AccessToken's user id (else its account id) when the JWT names one, so that
 * every new token of the account, and a RefreshToken however often it rotates, keeps the same browser; else the
 * credential the key was given as (`credential`). Hashed, so the key reveals neither; namespaced, so that the two
 * kinds cannot collide with each other, with pool account ids or with browser owners' keys.
 */
export function directAccountKey(accessToken: string, credential: string = accessToken): string {
  const claims = readAccessTokenClaims(accessToken);
  const account = claims.userId ?? claims.accountId;
  return account ? hashedKey('user', account) : credentialKey(credential);
}

/** The key of a credential whose account is not known (yet): the credential itself, hashed. */
export function credentialKey(credential: string): string {
  return hashedKey('token', credential);
}

function hashedKey(kind: 'user' | 'token', value: string): string {
  const digest = createHash('sha256').update(`flowgpt-account-${kind}:`).update(value).digest('base64url');
  return `${kind}-${digest.slice(0, 22)}`;
}

/**
 * What is kept per account and workspace (model caps, the model list): a Team workspace has its own plan and limits,
 * so the same user in their personal workspace and in a team's is two keys (upstream-protocol.md §10.3 keys limits by
 * the token with its workspace).
 */
export function workspaceKey(use: { fingerprintKey: string; chatgptAccountId?: string }): string {
  return use.chatgptAccountId ? `${use.fingerprintKey}/${use.chatgptAccountId}` : use.fingerprintKey;
}
