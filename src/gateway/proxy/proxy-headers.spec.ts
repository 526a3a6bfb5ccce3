import type { BrowserSession } from '../../auth/browser-session';
import { accountSecretsRewriter } from '../rewriting/account-secrets';
import { canDecode } from '../rewriting/content-encoding';
import { TextRewriter } from '../rewriting/text-rewriter';
import { anonymousChannelHeaders, forwardedRequestHeaders, responseHeadersFor } from './proxy-headers';
import { withDebugFeature, withDownloadUrlThroughUs } from './backend-proxy.service';
import { maskAddress } from './statsig.service';

describe('forwardedRequestHeaders', () => {
  it('forwards only the allow-list: never cookies, authorization, device id, user agent or hop-by-hop headers', () => {
    const out = forwardedRequestHeaders({
      accept: 'application/json',
      cookie: 'a=b',
      authorization: 'Bearer stand-in',
      'x-authorization': 'Bearer x',
      'oai-device-id': 'd',
      'user-agent': 'curl',
      connection: 'keep-alive',
      'keep-alive': 'timeout=5',
      'x-forwarded-for': '1.2.3.4',
      'openai-sentinel-proof-token': 'gAAAAAB',
      'x-conduit-token': 'c',
      'accept-encoding': 'gzip, deflate, br',
    });
    expect(out).toEqual({
      accept: 'application/json',
      'openai-sentinel-proof-token': 'gAAAAAB',
      'x-conduit-token': 'c',
      'accept-encoding': 'gzip, deflate, br',
    });
  });

  it('asks for unencoded bytes for a range, and identity when the browser accepts no coding we know', () => {
    expect(forwardedRequestHeaders({ range: 'bytes=0-1', 'accept-encoding': 'gzip' })['accept-encoding']).toBe('identity');
    expect(forwardedRequestHeaders({ 'accept-encoding': 'compress, x-unknown' })['accept-encoding']).toBe('identity');
  });

  it('asks for an event stream unencoded, so that it can be rewritten as it passes', () => {
    const headers = forwardedRequestHeaders({ accept: 'text/event-stream', 'accept-encoding': 'gzip, br' });
    expect(headers['accept-encoding']).toBe('identity');
  });

  it('offers the upstream only codings the browser accepts and we can decode (zstd only where Node decodes it)', () => {
    const offered = forwardedRequestHeaders({ 'accept-encoding': 'gzip, deflate, br, zstd, compress' })['accept-encoding'].split(', ');
    expect(offered.every((coding) => canDecode(coding))).toBe(true);
    expect(offered).toEqual(['gzip', 'deflate', 'br', ...(canDecode('zstd') ? ['zstd'] : [])]);
  });

  it('drops the headers a route asks to drop', () => {
    expect(forwardedRequestHeaders({ 'openai-sentinel-proof-token': 'x' }, ['openai-sentinel-proof-token'])).not.toHaveProperty(
      'openai-sentinel-proof-token',
    );
  });
});

describe('forwardedRequestHeaders: the target headers', () => {
  const browser = { 'x-openai-target-path': '/backend-api/conversations', 'x-openai-target-route': '/backend-api/conversations' };

  it("passes an owner's as the browser wrote them", () => {
    expect(forwardedRequestHeaders(browser)).toMatchObject(browser);
  });

  it("names the path a seed's rules checked, never the one its browser wrote", () => {
    const out = forwardedRequestHeaders(browser, [], '/backend-api/f/conversation');
    expect(out['x-openai-target-path']).toBe('/backend-api/f/conversation');
    expect(out).not.toHaveProperty('x-openai-target-route');
  });

  it("keeps a seed's route only when it is the checked path itself; a template goes", () => {
    const post = { 'x-openai-target-path': '/backend-api/f/conversation', 'x-openai-target-route': '/backend-api/f/conversation' };
    expect(forwardedRequestHeaders(post, [], '/backend-api/f/conversation')).toMatchObject(post);
    const template = forwardedRequestHeaders(
      { 'x-openai-target-route': '/backend-api/conversation/{conversation_id}' },
      [],
      '/backend-api/conversation/0f8fad5b-d9cb-469f-a165-70867728950e',
    );
    expect(template['x-openai-target-path']).toBe('/backend-api/conversation/0f8fad5b-d9cb-469f-a165-70867728950e');
    expect(template).not.toHaveProperty('x-openai-target-route');
  });

  it("adds none where a seed's browser sent none, and drops both where no path was checked", () => {
    expect(forwardedRequestHeaders({ accept: 'application/json' }, [], '/backend-api/models')).not.toHaveProperty('x-openai-target-path');
    const unchecked = forwardedRequestHeaders(browser, [], null);
    expect(unchecked).not.toHaveProperty('x-openai-target-path');
    expect(unchecked).not.toHaveProperty('x-openai-target-route');
  });
});

describe('anonymousChannelHeaders', () => {
  const device = '0f8fad5b-d9cb-469f-a165-70867728950e';

  it("sends the browser's own device id, and the upstream site as origin and referer", () => {
    expect(anonymousChannelHeaders({ 'oai-device-id': device, origin: 'https://gw.example' }, 'https://chatgpt.com', 'fallback')).toEqual({
      'oai-device-id': device,
      origin: 'https://chatgpt.com',
      referer: 'https://chatgpt.com/',
    });
  });

  it('stands in the anonymous device for a browser that sends none, or not a device id', () => {
    for (const sent of [undefined, 'x', `${device}\r\nx: y`, [device, device]]) {
      expect(anonymousChannelHeaders({ 'oai-device-id': sent }, 'https://chatgpt.com', 'fallback')['oai-device-id']).toBe('fallback');
    }
  });
});

const secrets = new TextRewriter([]);

describe('responseHeadersFor', () => {
  const hostRewriter = new TextRewriter([['https://chatgpt.com/backend-api/', 'https://gw/backend-api/']]);

  it('drops cookies, HSTS and hop-by-hop headers; drops length and encoding only when the body was rewritten', () => {
    const upstream = {
      'set-cookie': ['a=b'],
      'strict-transport-security': 'max-age=1',
      'transfer-encoding': 'chunked',
      connection: 'keep-alive',
      'content-length': '10',
      'content-encoding': 'gzip',
      'content-type': 'text/javascript',
      location: 'https://chatgpt.com/backend-api/x',
    };
    expect(responseHeadersFor(upstream, { host: 'backend', rewritten: true, hostRewriter, secrets })).toEqual({
      'content-type': 'text/javascript',
      location: 'https://gw/backend-api/x',
    });
    expect(responseHeadersFor(upstream, { host: 'cdn', rewritten: false, hostRewriter, secrets })).toMatchObject({
      'content-length': '10',
      'content-encoding': 'gzip',
    });
  });

  it('shows pictures inline but keeps active content a download', () => {
    const inline = responseHeadersFor(
      { 'content-type': 'image/png', 'content-disposition': 'attachment; filename=a.png' },
      { host: 'backend', rewritten: false, hostRewriter, secrets },
    );
    expect(inline['content-disposition']).toBe('inline; filename=a.png');
    const svg = responseHeadersFor(
      { 'content-type': 'image/svg+xml', 'content-disposition': 'attachment' },
      { host: 'backend', rewritten: false, hostRewriter, secrets },
    );
    expect(svg['content-disposition']).toBe('attachment');
  });
});

describe("responseHeadersFor: the account's secrets", () => {
  const hostRewriter = new TextRewriter([['https://chatgpt.com', 'https://gw']]);
  const account = {
    accessToken: 'eyJreal.token.value',
    fingerprintKey: 'k',
    privateIdentifiers: ['pool.person@example.com', 'user-PoolPersonXXXXXXXXXXXX'],
  };
  const seed: BrowserSession = { id: 's', kind: 'seed', standInToken: 'stand-in', createdAt: 0, expiresAt: 1 };

  it("are rewritten in every header a seed gets: a redirect's Location (URL-encoded too), links, x- headers", () => {
    const headers = responseHeadersFor(
      {
        location: 'https://chatgpt.com/auth/login?login_hint=pool.person%40example.com&u=pool.person@example.com',
        link: '<https://chatgpt.com/u/user-PoolPersonXXXXXXXXXXXX>; rel=me',
        'x-account-user': 'user-PoolPersonXXXXXXXXXXXX',
        'x-token-echo': ['Bearer eyJreal.token.value'],
      },
      { host: 'backend', rewritten: false, hostRewriter, secrets: accountSecretsRewriter(seed, account) },
    );
    expect(headers).toEqual({
      location: 'https://gw/auth/login?login_hint=user%40flowgpt.invalid&u=user@flowgpt.invalid',
      link: '<https://gw/u/user-flowgpt>; rel=me',
      'x-account-user': 'user-flowgpt',
      'x-token-echo': ['Bearer stand-in'],
    });
  });
});

describe('responseHeadersFor: files and sandbox output', () => {
  const hostRewriter = new TextRewriter([]);

  it('lets the chat page embed user files from another origin, which still cannot run anything', () => {
    const file = responseHeadersFor(
      { 'content-type': 'image/png', 'cross-origin-resource-policy': 'same-origin' },
      { host: 'files', rewritten: false, hostRewriter, secrets },
    );
    expect(file).toMatchObject({
      'cross-origin-resource-policy': 'cross-origin',
      'content-security-policy': 'sandbox',
      'x-content-type-options': 'nosniff',
    });
    expect(file).not.toHaveProperty('x-frame-options');
  });

  it('lets sandbox output run its scripts as an opaque origin, framed by the chat page only', () => {
    const page = responseHeadersFor(
      { 'content-type': 'text/html', 'x-frame-options': 'SAMEORIGIN', 'content-security-policy': 'frame-ancestors https://chatgpt.com' },
      { host: 'sandbox', rewritten: true, hostRewriter, secrets, chatPageOrigins: ['https://chat.example'] },
    );
    const policy = String(page['content-security-policy']).split(/;\s*/);
    expect(policy[0].split(' ')).toEqual(expect.arrayContaining(['sandbox', 'allow-scripts']));
    expect(policy[0]).not.toMatch(/allow-same-origin|allow-top-navigation/);
    expect(policy).toContain("frame-ancestors 'self' https://chat.example");
    expect(page['x-frame-options']).toBeNull();
    expect(page['cross-origin-resource-policy']).toBe('cross-origin');
  });

  it('leaves the answers of the other hosts to our own defaults', () => {
    const api = responseHeadersFor({ 'content-type': 'application/json' }, { host: 'backend', rewritten: true, hostRewriter, secrets });
    expect(api).not.toHaveProperty('cross-origin-resource-policy');
    expect(api).not.toHaveProperty('x-frame-options');
  });
});

describe('JSON adjustments', () => {
  it('adds debug to every account of accounts/check, plans untouched', () => {
    const document = { accounts: { a: { features: ['x'], account: { plan_type: 'free' } }, b: { features: ['debug'] } } };
    expect(withDebugFeature(document)).toEqual({
      accounts: { a: { features: ['x', 'debug'], account: { plan_type: 'free' } }, b: { features: ['debug'] } },
    });
  });

  it("puts a conversation download's link on our origin, and nothing else of the answer", () => {
    const hosts = new TextRewriter([['https://files.oaiusercontent.com', 'https://files.gw']]);
    const answer = { download_url: 'https://files.oaiusercontent.com/file-1?sig=a', file_name: 'https://files.oaiusercontent.com.txt' };
    expect(withDownloadUrlThroughUs(answer, hosts)).toEqual({
      download_url: 'https://files.gw/file-1?sig=a',
      file_name: 'https://files.oaiusercontent.com.txt',
    });
    expect(withDownloadUrlThroughUs({ status: 'error' }, hosts)).toEqual({ status: 'error' });
  });

  it('masks every ip and country at any depth', () => {
    expect(maskAddress({ ip: '1.2.3.4', user: [{ country: 'DE', ip: '::1' }], other: 'x' })).toEqual({
      ip: '8.8.8.8',
      user: [{ country: 'US', ip: '8.8.8.8' }],
      other: 'x',
    });
  });
});
