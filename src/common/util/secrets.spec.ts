import { maskSecret, maskUrlCredentials, secretInList, secretsEqual, withoutCredentials } from './secrets';

describe('secrets', () => {
  it('masks to the first 6 and last 4 characters', () => {
    expect(maskSecret('eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.payload.signature')).toBe('eyJhbG…ture');
    expect(maskSecret('short')).toBe('sh…(5)');
    // A short secret shows at most a quarter of itself: 3 of the 14 characters of this admin key.
    expect(maskSecret('adminsecret123')).toBe('ad…3');
    expect(maskSecret('a-24-character-secret-xy')).toBe('a-24…xy');
    expect(maskSecret(undefined)).toBe('<none>');
  });

  it('compares secrets exactly', () => {
    expect(secretsEqual('abc', 'abc')).toBe(true);
    expect(secretsEqual('abc', 'abcd')).toBe(false);
    expect(secretsEqual(undefined, 'abc')).toBe(false);
    expect(secretInList('b', ['a', 'b'])).toBe(true);
    expect(secretInList('c', ['a', 'b'])).toBe(false);
    expect(secretInList('', [])).toBe(false);
  });
});

describe('maskUrlCredentials', () => {
  it('hides the user name and password and keeps the rest of the URL', () => {
    expect(maskUrlCredentials('redis://:hunter2@127.0.0.1:6379')).toBe('redis://***@127.0.0.1:6379');
    expect(maskUrlCredentials('rediss://default:hunter2@cache.example.com:6380/2')).toBe('rediss://***@cache.example.com:6380/2');
    expect(maskUrlCredentials('socks5://user:hunter2@proxy.example.com:1080')).toBe('socks5://***@proxy.example.com:1080');
    expect(maskUrlCredentials('http://proxy.example.com:8080/')).toBe('http://proxy.example.com:8080/');
    expect(maskUrlCredentials('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(maskUrlCredentials('not a url hunter2')).toBe('<unparsable URL>');
  });

  // ioredis reads a password from the query too (and a sentinel's, and TLS options): these never show either.
  it('hides the value of every query parameter that may hold a credential', () => {
    const url = 'redis://127.0.0.1:6391/0?password=hunter2&sentinelPassword=hunter3&PWD=hunter4&token=hunter5&api_key=hunter6&family=4';
    expect(maskUrlCredentials(url)).toBe(
      'redis://127.0.0.1:6391/0?password=***&sentinelPassword=***&PWD=***&token=***&api_key=***&family=4',
    );
    expect(maskUrlCredentials('redis://h:6379?pass=a&pass=b&secret=c')).toBe('redis://h:6379?pass=***&secret=***');
  });
});

describe('withoutCredentials', () => {
  const jwt = `eyJhbGciOiJSUzI1NiJ9.${'eyJzdWIiOiJ1c2VyLTEyMyJ9'.repeat(4)}.${'c2lnbmF0dXJl'.repeat(6)}`;
  const jwe = `eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..${'aXY'.repeat(6)}.${'Y2lwaGVydGV4dA'.repeat(8)}.${'dGFn'.repeat(5)}`;

  it.each([
    ['a JWT', `Bad request for ${jwt} here`, 'Bad request for [redacted] here'],
    ['a JWE session token', `cookie ${jwe};`, 'cookie [redacted];'],
    ['a bearer value', 'Authorization: Bearer fk-short-share-token was refused', 'Authorization: Bearer [redacted] was refused'],
    ['a long opaque token', `refresh_token=${'v1.M'.padEnd(90, 'Qx9_-')} invalid`, 'refresh_token=v1.[redacted] invalid'],
  ])('redacts %s', (_name, text, expected) => {
    expect(withoutCredentials(text)).toBe(expected);
  });

  it('keeps what an error says: words, ids, numbers, paths, help links', () => {
    for (const text of [
      'Conversation 3f1c2b9a-7d00-4000-8000-000000000000 not found (code 404, model gpt-4o).',
      'Conversation 3f1c2b9a-7d00-4000-8000-000000000000/message/5e2d1c0b-7d00-4000-8000-000000000000 not found',
      'See https://help.openai.com/en/articles/6825453-chatgpt-release-notes-and-everything-else-about-it for more.',
    ])
      expect(withoutCredentials(text)).toBe(text);
  });

  it('redacts a long hex secret', () => {
    expect(withoutCredentials(`key ${'a1b2c3d4'.repeat(8)} refused`)).toBe('key [redacted] refused');
  });
});
