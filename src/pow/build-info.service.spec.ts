import type { UpstreamClient } from '../upstream/upstream.client';
import { WEB_APP_DEFAULTS } from '../upstream/web-app-defaults';
import { BuildInfoService, parseBuildInfo, parseRelease } from './build-info.service';

const HOME = '<html><script src="https://cdn.example/_next/static/c/build-42/_app.js"></script></html>';

describe('BuildInfoService', () => {
  it('reads the home page once per host and shares that read between concurrent callers', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const request = jest.fn(async () => {
      await gate;
      return { status: 200, body: Buffer.from(HOME) };
    });
    const upstream = { request, fingerprint: () => ({ userAgent: 'ua', deviceId: 'd' }) } as unknown as UpstreamClient;
    const service = new BuildInfoService(upstream);
    const reads = [service.get('https://a.example'), service.get('https://a.example')];
    release();
    const [first, second] = await Promise.all(reads);
    expect(first).toMatchObject({ dpl: 'c/build-42/_', scripts: ['https://cdn.example/_next/static/c/build-42/_app.js'] });
    expect(second).toEqual(first);
    expect(await service.get('https://a.example')).toEqual(first);
    expect(request).toHaveBeenCalledTimes(1);
    await service.get('https://b.example');
    expect(request).toHaveBeenCalledTimes(2);
  });

  it('answers no build id (null) and no script when the home page cannot be read', async () => {
    const upstream = {
      request: jest.fn(async () => ({ status: 503, body: Buffer.from('') })),
      fingerprint: () => ({}),
    } as unknown as UpstreamClient;
    expect(await new BuildInfoService(upstream).get('https://a.example')).toEqual({
      dpl: null,
      scripts: [],
      clientVersion: WEB_APP_DEFAULTS.clientVersion,
      clientBuildNumber: WEB_APP_DEFAULTS.clientBuildNumber,
    });
  });
});

describe('parseBuildInfo (upstream-protocol.md §3.1)', () => {
  it('takes the whole c/…/_ fragment of the last script path that has one', () => {
    const html =
      '<html data-build="prod-1"><script src="/cdn/c/FIRST/_app.js"></script>' +
      '<script src="/cdn/plain.js"></script><script src="/cdn/c/ZFXi1y3i2zZKA3IT074s3/_buildManifest.js"></script></html>';
    expect(parseBuildInfo(html)).toMatchObject({
      dpl: 'c/ZFXi1y3i2zZKA3IT074s3/_',
      scripts: ['/cdn/c/FIRST/_app.js', '/cdn/plain.js', '/cdn/c/ZFXi1y3i2zZKA3IT074s3/_buildManifest.js'],
    });
  });

  it('falls back to the html data-build, then to null', () => {
    expect(parseBuildInfo('<html data-build="prod-f501fe93"><script src="/a.js"></script></html>').dpl).toBe('prod-f501fe93');
    expect(parseBuildInfo('<html><script src="/a.js"></script></html>').dpl).toBeNull();
  });

  it("lists chatgpt.com's sentinel SDK when the page has no script, whatever the host", () => {
    expect(parseBuildInfo('<html></html>').scripts).toEqual(['https://chatgpt.com/backend-api/sentinel/sdk.js']);
  });
});

describe('parseRelease', () => {
  it.each([
    [
      'the html data-build and a data-build-number',
      '<html lang="en" data-build="prod-abc123" data-build-number="5150">',
      'prod-abc123',
      '5150',
    ],
    [
      'a build number in the inline bootstrap',
      '<html data-build="prod-9f"><script>window.__ctx={"buildNumber":"777"}</script>',
      'prod-9f',
      '777',
    ],
    [
      'a build number in a script URL',
      '<html data-build="prod-9f"><script src="/cdn/assets/entry.js?build_number=31337"></script>',
      'prod-9f',
      '31337',
    ],
    ['nothing: the defaults', '<html lang="en"><body></body></html>', WEB_APP_DEFAULTS.clientVersion, WEB_APP_DEFAULTS.clientBuildNumber],
    [
      'a data-build that is not a release',
      '<html data-build="<script>">',
      WEB_APP_DEFAULTS.clientVersion,
      WEB_APP_DEFAULTS.clientBuildNumber,
    ],
  ])('reads %s', (_what, html, clientVersion, clientBuildNumber) => {
    expect(parseRelease(html)).toEqual({ clientVersion, clientBuildNumber });
  });
});
