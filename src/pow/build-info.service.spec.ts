import type { UpstreamClient } from '../upstream/upstream.client';
import { BuildInfoService } from './build-info.service';

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
    expect(first).toEqual({ dpl: 'build-42', scripts: ['https://cdn.example/_next/static/c/build-42/_app.js'] });
    expect(second).toEqual(first);
    expect(await service.get('https://a.example')).toEqual(first);
    expect(request).toHaveBeenCalledTimes(1);
    await service.get('https://b.example');
    expect(request).toHaveBeenCalledTimes(2);
  });

  it('answers an empty build id when the home page cannot be read', async () => {
    const upstream = { request: jest.fn(async () => ({ status: 503, body: Buffer.from('') })), fingerprint: () => ({}) } as unknown as UpstreamClient;
    expect(await new BuildInfoService(upstream).get('https://a.example')).toEqual({ dpl: '', scripts: [] });
  });
});
