import { maskSecret, maskUrlPassword, secretInList, secretsEqual } from './secrets';

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

describe('maskUrlPassword', () => {
  it('hides the password and keeps the rest of the URL', () => {
    expect(maskUrlPassword('redis://:hunter2@127.0.0.1:6379')).toBe('redis://:***@127.0.0.1:6379');
    expect(maskUrlPassword('rediss://default:hunter2@cache.example.com:6380/2')).toBe('rediss://default:***@cache.example.com:6380/2');
    expect(maskUrlPassword('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(maskUrlPassword('not a url hunter2')).toBe('<unparsable URL>');
  });
});
