import { createHash } from 'node:crypto';
import { classifyApiKey } from './api-credential';
import { storeOwner } from './api-key-owner.decorator';

const WS_A = 'c0ffee00-aaaa-4bbb-8ccc-ddddeeeeffff';
const WS_B = 'c0ffee00-1111-4222-8333-444455556666';

const ownerOf = (key: string, workspaceHeader?: string) => {
  const credential = classifyApiKey(key, { isPoolKey: (candidate) => candidate === 'pool-key' });
  if (workspaceHeader && 'token' in credential && !credential.chatgptAccountId) credential.chatgptAccountId = workspaceHeader;
  return storeOwner(key, credential);
};

describe('storeOwner', () => {
  const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl';

  it('is one owner per key, never the key itself', () => {
    expect(ownerOf(token)).toBe(ownerOf(token));
    expect(ownerOf(token)).not.toContain(token);
    expect(ownerOf('pool-key')).not.toBe(ownerOf(token));
  });

  it('is another owner for the same token in another workspace', () => {
    expect(ownerOf(token, WS_A)).not.toBe(ownerOf(token, WS_B));
    expect(ownerOf(token, WS_A)).not.toBe(ownerOf(token));
  });

  it('is the same owner whether the workspace comes with the key or as the header', () => {
    expect(ownerOf(`${token},${WS_A}`)).toBe(ownerOf(token, WS_A));
    expect(ownerOf(`${token}:${WS_A}`)).toBe(ownerOf(token, WS_A));
  });
});

describe('storeOwner of a key that names its workspace', () => {
  const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl';

  // Uploads are kept until deleted: a key given as `token,workspace` must still own what it stored under its digest.
  it('is the digest of the key as it always was, for the key and for the token with the workspace header', () => {
    const before = createHash('sha256').update(`${token},${WS_A}`).digest('hex');
    expect(ownerOf(`${token},${WS_A}`)).toBe(before);
    expect(ownerOf(token, WS_A)).toBe(before);
  });
});
