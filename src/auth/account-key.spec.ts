import { credentialKey, directAccountKey } from './account-key';

/** An unsigned AccessToken-shaped JWT with these OpenAI auth claims (only the claims are read). */
function accessToken(auth: Record<string, string>, nonce: string): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256' })}.${part({ exp: 2_000_000_000, jti: nonce, 'https://api.openai.com/auth': auth })}.sig-${nonce}`;
}

describe('directAccountKey', () => {
  const alice = { user_id: 'user-alice', chatgpt_account_id: 'acct-alice' };

  it('is the same for every AccessToken of one account, and differs between accounts', () => {
    const first = directAccountKey(accessToken(alice, 'one'));
    expect(directAccountKey(accessToken(alice, 'two'))).toBe(first);
    expect(directAccountKey(accessToken({ user_id: 'user-bob', chatgpt_account_id: 'acct-bob' }, 'one'))).not.toBe(first);
  });

  it('names two users of one Team workspace apart, and falls back to the account id without a user id', () => {
    const team = { chatgpt_account_id: 'acct-team' };
    expect(directAccountKey(accessToken({ ...team, user_id: 'user-a' }, 'x'))).not.toBe(
      directAccountKey(accessToken({ ...team, user_id: 'user-b' }, 'x')),
    );
    expect(directAccountKey(accessToken(team, 'one'))).toBe(directAccountKey(accessToken(team, 'two')));
  });

  it('gives a RefreshToken the key of the account its AccessTokens belong to', () => {
    expect(directAccountKey(accessToken(alice, 'from-rt'), 'rt_refresh-token')).toBe(directAccountKey(accessToken(alice, 'direct')));
  });

  it('falls back to the credential, hashed, for a token without claims', () => {
    expect(directAccountKey('fk-share-token')).toBe(credentialKey('fk-share-token'));
    expect(directAccountKey('fk-share-token', 'rt_refresh-token')).toBe(credentialKey('rt_refresh-token'));
    expect(credentialKey('fk-share-token')).not.toBe(credentialKey('fk-other-token'));
  });

  it('reveals neither the token nor the account, and keeps the two kinds apart', () => {
    const token = accessToken(alice, 'one');
    const byUser = directAccountKey(token);
    for (const secret of [token, 'user-alice', 'acct-alice']) expect(byUser).not.toContain(secret);
    expect(byUser).toMatch(/^user-[A-Za-z0-9_-]{22}$/);
    expect(credentialKey('fk-share-token')).toMatch(/^token-[A-Za-z0-9_-]{22}$/);
    // The same text as a user id and as a credential hashes apart too, not only by the prefix.
    const digest = (key: string) => key.slice(key.indexOf('-') + 1);
    expect(digest(directAccountKey(accessToken({ user_id: 'same-text' }, 'x')))).not.toBe(digest(credentialKey('same-text')));
  });
});
