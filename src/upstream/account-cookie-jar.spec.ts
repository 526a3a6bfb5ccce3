import { AccountCookieJar, mergeCookieHeaders } from './account-cookie-jar';

const ORIGIN = 'https://chatgpt.com';
const HTTP_DATE = (ms: number) => new Date(ms).toUTCString();

describe('AccountCookieJar', () => {
  let now: number;
  let jar: AccountCookieJar;

  beforeEach(() => {
    now = 1_700_000_000_000;
    jar = new AccountCookieJar(() => now);
  });

  it('gives back the cookies an account was set on an origin as one Cookie header, its own only', () => {
    expect(jar.cookieHeader('user-a', ORIGIN)).toBeUndefined();
    jar.store('user-a', ORIGIN, ['oai-did=dev-1; Path=/; Max-Age=31536000; Secure', '__cf_bm=bm1; Path=/; HttpOnly']);
    jar.store('user-a', ORIGIN, ['oai-sc=sc1; Domain=.chatgpt.com; Path=/backend-api; SameSite=Lax']);
    expect(jar.cookieHeader('user-a', ORIGIN)).toBe('oai-did=dev-1; __cf_bm=bm1; oai-sc=sc1');
    expect(jar.cookieHeader('user-b', ORIGIN)).toBeUndefined();
    expect(jar.cookieHeader('user-a', 'https://chat.openai.com')).toBeUndefined();
  });

  it('replaces a cookie set again, and deletes one set with Max-Age=0 or an Expires in the past', () => {
    jar.store('user-a', ORIGIN, ['__cf_bm=bm1', 'oai-sc=sc1', 'oai-did=dev-1']);
    jar.store('user-a', ORIGIN, ['__cf_bm=bm2; Max-Age=1800']);
    expect(jar.cookieHeader('user-a', ORIGIN)).toBe('oai-sc=sc1; oai-did=dev-1; __cf_bm=bm2');
    jar.store('user-a', ORIGIN, ['oai-sc=; Max-Age=0', `oai-did=gone; Expires=${HTTP_DATE(now - 1000)}`]);
    expect(jar.cookieHeader('user-a', ORIGIN)).toBe('__cf_bm=bm2');
    jar.store('user-a', ORIGIN, ['__cf_bm=; Max-Age=-1']);
    expect(jar.cookieHeader('user-a', ORIGIN)).toBeUndefined();
  });

  it('lets a cookie go when its Max-Age or Expires runs out, Max-Age first', () => {
    jar.store('user-a', ORIGIN, [
      '__cf_bm=bm1; Max-Age=1800',
      `oai-sc=sc1; Expires=${HTTP_DATE(now + 3_600_000)}`,
      `_cfuvid=u1; Max-Age=60; Expires=${HTTP_DATE(now + 3_600_000)}`,
      'oai-did=dev-1',
    ]);
    now += 61_000;
    expect(jar.cookieHeader('user-a', ORIGIN)).toBe('__cf_bm=bm1; oai-sc=sc1; oai-did=dev-1');
    now += 1800_000;
    expect(jar.cookieHeader('user-a', ORIGIN)).toBe('oai-sc=sc1; oai-did=dev-1');
    now += 3_600_000;
    // A cookie without an expiry lives as long as the process, as a browser's does as long as the browser.
    expect(jar.cookieHeader('user-a', ORIGIN)).toBe('oai-did=dev-1');

    jar.store('user-b', ORIGIN, ['__cf_bm=bm1; Max-Age=1800']);
    now += 1800_000;
    expect(jar.cookieHeader('user-b', ORIGIN)).toBeUndefined();
  });

  it('ignores a Max-Age that is not a number, as RFC 6265 says, rather than keeping the cookie for good', () => {
    jar.store('user-n', ORIGIN, [`__cf_bm=bm1; Max-Age=soon; Expires=${HTTP_DATE(now + 60_000)}`, 'oai-sc=sc1; Max-Age=abc']);
    expect(jar.cookieHeader('user-n', ORIGIN)).toBe('__cf_bm=bm1; oai-sc=sc1');
    now += 61_000;
    expect(jar.cookieHeader('user-n', ORIGIN)).toBe('oai-sc=sc1');
    jar.store('user-n', ORIGIN, ['oai-sc=; Max-Age=0']);
    expect(jar.cookieHeader('user-n', ORIGIN)).toBeUndefined();
  });

  it('keeps a cookie value as it came, and refuses what cannot be sent back in a header', () => {
    jar.store('user-a', ORIGIN, [
      'oai-sc=a%20b==; Path=/',
      'empty=',
      'bad=new\u0001line',
      'spaced=a b',
      '=nameless',
      'nameless',
      `huge=${'x'.repeat(5000)}`,
    ]);
    expect(jar.cookieHeader('user-a', ORIGIN)).toBe('oai-sc=a%20b==; empty=');
  });

  it('keeps at most 50 cookies per account and origin, the least recently set going first', () => {
    jar.store(
      'user-a',
      ORIGIN,
      Array.from({ length: 60 }, (_, index) => `c${index}=v${index}`),
    );
    const names = (jar.cookieHeader('user-a', ORIGIN) ?? '').split('; ').map((pair) => pair.split('=')[0]);
    expect(names).toHaveLength(50);
    expect(names[0]).toBe('c10');
    expect(names.at(-1)).toBe('c59');
  });
});

describe('mergeCookieHeaders', () => {
  it('sends each name once: cf_clearance from the clearance, every other from the account', () => {
    expect(mergeCookieHeaders('cf_clearance=c1; __cf_bm=bm-solve', 'cf_clearance=stale; __cf_bm=bm-new; oai-sc=sc1')).toBe(
      'cf_clearance=c1; __cf_bm=bm-new; oai-sc=sc1',
    );
    expect(mergeCookieHeaders('cf_clearance=c1; __cf_bm=bm-solve', 'oai-did=dev-1')).toBe(
      'cf_clearance=c1; __cf_bm=bm-solve; oai-did=dev-1',
    );
  });

  it('passes either alone through', () => {
    expect(mergeCookieHeaders(undefined, undefined)).toBeUndefined();
    expect(mergeCookieHeaders('cf_clearance=c1', undefined)).toBe('cf_clearance=c1');
    expect(mergeCookieHeaders(undefined, 'oai-sc=sc1')).toBe('oai-sc=sc1');
  });
});
