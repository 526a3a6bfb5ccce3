import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { type ApiCredential, readApiKey, type RequestWithCredential } from './api-credential';

/**
 * Who owns what a request stores (stored responses, uploaded files), without keeping the key itself: a SHA-256 digest
 * of its API key, and of the Team workspace the request runs in when it names one. A token's conversations live in
 * one workspace, so the same token in another workspace (another `ChatGPT-Account-ID`) neither sees nor continues
 * them; `token,workspace` and the token with that header are the same owner. That owner is the digest of the key as
 * `token,workspace`, which is what a key given in that form has always been owned as: its uploads (kept until deleted)
 * and its stored responses stay its own. Used after ApiAuthenticated(), which has already refused a missing key.
 */
export function storeOwner(key: string, credential: ApiCredential | undefined): string {
  const workspace = credential && 'token' in credential ? credential.chatgptAccountId : undefined;
  const scope = workspace ? `${(credential as { token: string }).token},${workspace}` : key;
  return createHash('sha256').update(scope).digest('hex');
}

export const ApiKeyOwner = createParamDecorator((_data: unknown, context: ExecutionContext): string => {
  const request = context.switchToHttp().getRequest<RequestWithCredential>();
  return storeOwner(readApiKey(request) ?? '', request.apiCredential);
});
