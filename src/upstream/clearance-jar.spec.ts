import { ClearanceCookie, ClearanceJar, ClearanceRoute, EXPIRY_MARGIN_MS } from './clearance-jar';

const HOUR = 3_600_000;
const UA = 'Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0 Safari/537.36';

describe('ClearanceJar', () => {
  let now: number;
  let jar: ClearanceJar;
  const route: ClearanceRoute = { origin: 'https://chatgpt.com', proxyUrl: 'http://proxy-a:8080', userAgent: UA };
  const cookies = (clearance: string, expiresAt = now + HOUR): ClearanceCookie[] => [
    { name: 'cf_clearance', value: clearance, expiresAt },
    { name: '__cf_bm', value: `bm-${clearance}`, expiresAt: now + 30 * 60_000 },
  ];

  beforeEach(() => {
    now = 1_700_000_000_000;
    jar = new ClearanceJar(() => now);
  });

  it('gives back the cookies earned on a route as one Cookie header', () => {
    expect(jar.cookieHeader(route)).toBeUndefined();
    jar.store(route, cookies('c1'));
    expect(jar.cookieHeader(route)).toBe('cf_clearance=c1; __cf_bm=bm-c1');
  });

  it('keeps clearances apart per proxy, host and user agent, and shares one across schemes and paths of a host', () => {
    jar.store(route, cookies('c1'));
    expect(jar.cookieHeader({ ...route, proxyUrl: 'http://proxy-b:8080' })).toBeUndefined();
    expect(jar.cookieHeader({ ...route, proxyUrl: undefined })).toBeUndefined();
    expect(jar.cookieHeader({ ...route, origin: 'https://chat.openai.com' })).toBeUndefined();
    expect(jar.cookieHeader({ ...route, userAgent: `${UA} Edg/131.0.0.0` })).toBeUndefined();
    expect(jar.cookieHeader({ ...route, origin: 'HTTPS://ChatGPT.com' })).toBe('cf_clearance=c1; __cf_bm=bm-c1');
  });

  it('stops sending a clearance shortly before the expiry its cookie gave, and forgets it', () => {
    jar.store(route, cookies('c1', now + HOUR));
    now += HOUR - EXPIRY_MARGIN_MS - 1;
    expect(jar.cookieHeader(route)).toBe('cf_clearance=c1');
    now += 1;
    expect(jar.cookieHeader(route)).toBeUndefined();
    expect(jar.size).toBe(0);
  });

  it('drops a companion cookie that expired before the clearance', () => {
    jar.store(route, cookies('c1', now + 2 * HOUR));
    now += 31 * 60_000;
    expect(jar.cookieHeader(route)).toBe('cf_clearance=c1');
  });

  it('refuses a solve without a live cf_clearance and ignores cookies that are not Cloudflare clearance', () => {
    expect(() => jar.store(route, [{ name: '__cf_bm', value: 'bm', expiresAt: now + HOUR }])).toThrow(/cf_clearance/);
    expect(() => jar.store(route, cookies('c1', now + EXPIRY_MARGIN_MS))).toThrow(/cf_clearance/);
    jar.store(route, [...cookies('c1'), { name: 'session', value: 'secret', expiresAt: now + HOUR }]);
    expect(jar.cookieHeader(route)).not.toContain('session');
  });

  it('discards the refused clearance, but not a newer one stored meanwhile', () => {
    jar.store(route, cookies('c1'));
    const refused = jar.cookieHeader(route);
    jar.store(route, cookies('c2'));
    jar.discard(route, refused);
    expect(jar.cookieHeader(route)).toBe('cf_clearance=c2; __cf_bm=bm-c2');
    jar.discard(route, jar.cookieHeader(route));
    expect(jar.cookieHeader(route)).toBeUndefined();
    jar.discard(route, undefined);
  });

  it('prunes expired routes when a new clearance is stored', () => {
    jar.store(route, cookies('c1', now + HOUR));
    now += 2 * HOUR;
    jar.store({ ...route, proxyUrl: undefined }, cookies('c2'));
    expect(jar.size).toBe(1);
  });
});
