import { normalizeRequestTarget } from './request-target';

describe('normalizeRequestTarget', () => {
  it.each([
    ['/v1/models', '/v1/models'],
    ['/v1/models?limit=2&x=%2F', '/v1/models?limit=2&x=%2F'],
    ['http://anything/v1/chat/completions', '/v1/chat/completions'],
    ['HTTPS://user@host:8443/p/v1/models?x=1', '/p/v1/models?x=1'],
    ['http://anything', '/'],
    ['http://anything?x=1', '/?x=1'],
    ['/%761/models', '/v1/models'],
    ['/%56%31/models', '/V1/models'],
    ['/a%20b/%7e', '/a%20b/~'],
    ['//v1///models', '/v1/models'],
    ['/V1/models', '/V1/models'],
    ['/v1/models/', '/v1/models/'],
    ['*', '*'],
  ])('%s → %s', (target, normal) => {
    expect(normalizeRequestTarget(target)).toBe(normal);
  });

  it.each([
    'v1/models',
    '/a/../v1',
    '/a/./v1',
    '/..',
    '/%2e%2e/v1',
    '/.%2E/v1',
    '/p%2fv1',
    '/p%2Fv1',
    '/p%5cv1',
    '/p\\v1',
    'http://x/a/../b',
    '/v1#frag',
  ])('refuses %s', (target) => {
    expect(normalizeRequestTarget(target)).toBeUndefined();
  });
});
