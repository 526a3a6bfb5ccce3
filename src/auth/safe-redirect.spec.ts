import { safeCallbackPath, safeNextPath } from './safe-redirect';

describe('safeNextPath', () => {
  it.each(['/', '/c/0f3e', '/gpts?x=1#top', '/auth/login?next=%2Fc%2F1'])('keeps the local path %s', (path) => {
    expect(safeNextPath(path)).toBe(path);
  });

  it.each([
    '//evil.com',
    '/\\evil.com',
    '\\\\evil.com',
    'https://evil.com',
    'javascript:alert(1)',
    'evil.com',
    '',
    '/%2F/evil.com',
    '%2F%2Fevil.com',
    '/%5Cevil.com',
    '/\t/evil.com',
    '/\n/evil.com',
    '/%',
  ])('sends %j to /', (value) => {
    expect(safeNextPath(value)).toBe('/');
  });

  it('sends anything that is not a string to /', () => {
    expect(safeNextPath(undefined)).toBe('/');
    expect(safeNextPath(['/a', '/b'])).toBe('/');
    expect(safeNextPath('/' + 'a'.repeat(3000))).toBe('/');
  });
});

describe('safeCallbackPath', () => {
  const ours = (url: string) => new URL(url).host === 'gw.example.test';

  it('keeps the path of a URL on this site, and a local path as it is', () => {
    expect(safeCallbackPath('https://gw.example.test/c/0f3e?model=auto#end', ours)).toBe('/c/0f3e?model=auto#end');
    expect(safeCallbackPath('/gpts', ours)).toBe('/gpts');
  });

  it.each(['https://evil.com/c/1', 'https://gw.example.test.evil.com/', '//gw.example.test/x', 'javascript:alert(1)', undefined])(
    'sends %j to /',
    (value) => {
      expect(safeCallbackPath(value, ours)).toBe('/');
    },
  );

  it('checks the path of a URL on this site like any other', () => {
    expect(safeCallbackPath('https://gw.example.test/%2F%2Fevil.com', ours)).toBe('/');
  });
});
