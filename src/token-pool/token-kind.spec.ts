import { looksLikeSessionToken, parseCredential, readAccessTokenClaims } from './token-kind';

const jwt = (payload: object) =>
  ['{"alg":"RS256","typ":"JWT"}', JSON.stringify(payload), 'sig'].map((part) => Buffer.from(part).toString('base64url')).join('.');

describe('parseCredential', () => {
  const accessToken = jwt({ exp: 2_000_000_000 });
  const legacyRefresh = 'a'.repeat(45);

  it('classifies AccessTokens and RefreshTokens', () => {
    expect(parseCredential(accessToken)).toEqual({ kind: 'access_token', token: accessToken });
    expect(parseCredential('fk-abc')).toEqual({ kind: 'access_token', token: 'fk-abc' });
    expect(parseCredential(legacyRefresh)).toEqual({ kind: 'refresh_token', token: legacyRefresh });
    expect(parseCredential('rt_Zx9Lq0AbCdEfGhIjKlMnOp.qRsTuV')).toEqual({
      kind: 'refresh_token',
      token: 'rt_Zx9Lq0AbCdEfGhIjKlMnOp.qRsTuV',
    });
  });

  it('reads the Team forms token,account_id and token:account_id', () => {
    expect(parseCredential(`${accessToken},0f1e2d3c-4b5a-4c6d-8e7f-901234567abc`)).toEqual({
      kind: 'access_token',
      token: accessToken,
      chatgptAccountId: '0f1e2d3c-4b5a-4c6d-8e7f-901234567abc',
    });
    expect(parseCredential(`${legacyRefresh}:0F1E2D3C-4B5A-4C6D-8E7F-901234567ABC`)).toEqual({
      kind: 'refresh_token',
      token: legacyRefresh,
      chatgptAccountId: '0F1E2D3C-4B5A-4C6D-8E7F-901234567ABC',
    });
  });

  it('never reads the second of two comma-joined tokens as a workspace id (found in review)', () => {
    const otherRefresh = `Rt2${'c'.repeat(20)}${'D'.repeat(22)}`;
    expect(parseCredential(`${legacyRefresh},${otherRefresh}`)).toBeNull();
    expect(parseCredential(`${accessToken},${otherRefresh}`)).toBeNull();
    expect(parseCredential(`${legacyRefresh}:rt_Zx9Lq0AbCdEfGhIjKlMnOp`)).toBeNull();
    // Only a UUID is a workspace id.
    expect(parseCredential(`${accessToken},acc-team-123`)).toBeNull();
  });

  it('returns null for seeds, pool keys and garbage', () => {
    expect(parseCredential('')).toBeNull();
    expect(parseCredential('my-seed')).toBeNull();
    expect(parseCredential('a'.repeat(44))).toBeNull();
    expect(parseCredential('seed,0f1e2d3c-4b5a-4c6d-8e7f-901234567abc')).toBeNull();
    expect(parseCredential(`${accessToken},bad id!`)).toBeNull();
  });

  it('refuses credentials that cannot be sent as an HTTP header value', () => {
    expect(parseCredential('fk-bad中token')).toBeNull();
    expect(parseCredential('fk-bad\u0000token')).toBeNull();
    expect(parseCredential('fk-bad token')).toBeNull();
    expect(parseCredential(`${accessToken}\u00ff`)).toBeNull();
    expect(parseCredential(`rt_${'x'.repeat(10)}\t`.slice(0, -1) + '\u0085')).toBeNull();
    expect(parseCredential('é'.repeat(45))).toBeNull();
  });
});

describe('SessionTokens', () => {
  const b64 = (text: string) => Buffer.from(text).toString('base64url');
  /** next-auth's cookie: a compact JWE with `"alg":"dir"` (no key segment), an IV, ciphertext and tag. */
  const jwe = (header = '{"alg":"dir","enc":"A256GCM"}') =>
    [b64(header), '', b64('initvector12'), b64('x'.repeat(900)), b64('tag-of-16-bytes!')].join('.');
  const accessToken = jwt({ exp: 2_000_000_000 });

  it('recognises next-auth JWEs, though they start like an AccessToken', () => {
    const token = jwe();
    expect(token.startsWith('eyJhbGciOi')).toBe(true);
    expect(parseCredential(token)).toEqual({ kind: 'session_token', token });
    expect(parseCredential(jwe('{"alg":"A256KW","enc":"A256CBC-HS512"}'))?.kind).toBe('session_token');
    expect(parseCredential(`${token},0f1e2d3c-4b5a-4c6d-8e7f-901234567abc`)).toEqual({
      kind: 'session_token',
      token,
      chatgptAccountId: '0f1e2d3c-4b5a-4c6d-8e7f-901234567abc',
    });
  });

  it('keeps AccessTokens (three segments) and five-segment strings without a JWE header apart', () => {
    expect(parseCredential(accessToken)?.kind).toBe('access_token');
    expect(looksLikeSessionToken(accessToken)).toBe(false);
    // A JWS header (no `enc`) in five segments, and JWE-like strings with empty parts or bad characters.
    expect(looksLikeSessionToken(jwe('{"alg":"RS256","typ":"JWT"}'))).toBe(false);
    expect(looksLikeSessionToken(jwe().replace(/\.[^.]+$/, '.'))).toBe(false);
    expect(looksLikeSessionToken(`${jwe()}%`)).toBe(false);
    expect(looksLikeSessionToken('eyJ.a.b.c.d')).toBe(false);
    expect(parseCredential('my.seed.with.five.parts')).toBeNull();
  });

  it('accepts any cookie value with the explicit st: prefix, and strips the prefix', () => {
    expect(parseCredential('st:opaque-session-cookie-0123456789')).toEqual({
      kind: 'session_token',
      token: 'opaque-session-cookie-0123456789',
    });
    expect(parseCredential(`st:${jwe()}`)).toEqual({ kind: 'session_token', token: jwe() });
    expect(parseCredential('st:opaque-session-cookie-0123456789,0f1e2d3c-4b5a-4c6d-8e7f-901234567abc')).toEqual({
      kind: 'session_token',
      token: 'opaque-session-cookie-0123456789',
      chatgptAccountId: '0f1e2d3c-4b5a-4c6d-8e7f-901234567abc',
    });
    expect(parseCredential('st:short')).toBeNull();
    expect(parseCredential('st:has;semicolon-0123456789')).toBeNull();
    expect(parseCredential('st:has"quote-0123456789abc')).toBeNull();
  });
});

describe('readAccessTokenClaims', () => {
  it('reads expiry, email, ids and plan', () => {
    const token = jwt({
      exp: 1_900_000_000,
      'https://api.openai.com/profile': { email: 'a@b.c' },
      'https://api.openai.com/auth': { user_id: 'user-1', chatgpt_account_id: 'acc-1', chatgpt_plan_type: 'plus' },
    });
    expect(readAccessTokenClaims(token)).toEqual({
      expiresAt: 1_900_000_000_000,
      email: 'a@b.c',
      userId: 'user-1',
      accountId: 'acc-1',
      planType: 'plus',
    });
  });

  it('tolerates tokens that are not JWTs', () => {
    expect(readAccessTokenClaims('fk-abc')).toEqual({});
    // An exp no Date can hold is no expiry: nothing downstream may try to print it.
    for (const exp of [-1e14, 1e14, Number.MAX_VALUE, '1900000000']) expect(readAccessTokenClaims(jwt({ exp })).expiresAt).toBeUndefined();
    expect(readAccessTokenClaims(jwt({ exp: -1 })).expiresAt).toBe(-1000);
    expect(readAccessTokenClaims('eyJhbGciOi.%%%.x')).toEqual({});
  });
});
