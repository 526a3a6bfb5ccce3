import { maskSecret, secretInList, secretsEqual } from './secrets';

describe('secrets', () => {
  it('masks to the first 6 and last 4 characters', () => {
    expect(maskSecret('eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.payload.signature')).toBe('eyJhbG…ture');
    expect(maskSecret('short')).toBe('sh…(5)');
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
