import { Readable } from 'node:stream';
import type { CredentialService } from '../auth/credential.service';
import { ApiError } from '../common/errors/api-error';
import type { SharedState } from '../common/shared-state/shared-state';
import type { AppConfig } from '../config/app-config';
import type { UpstreamClient } from '../upstream/upstream.client';
import { FileLinkService, type FileSource } from './file-link.service';

describe('FileLinkService.bytes', () => {
  const base = 'https://chatgpt.example';
  const config = { chatgptBaseUrl: [base], filesBaseUrl: 'https://files.example' } as unknown as AppConfig;
  const shared = { keyValues: () => ({}) } as unknown as SharedState;
  const source = { identity: { fingerprint: {} }, baseUrl: base } as unknown as FileSource;

  function storageSending(body: Readable): UpstreamClient {
    return {
      request: async () => ({ status: 200, headers: {}, body: Buffer.from(JSON.stringify({ download_url: `${base}/blob/file-1?sig=x` })) }),
      stream: async () => ({ status: 200, headers: { 'content-type': 'image/png' }, body }),
    } as unknown as UpstreamClient;
  }

  it('answers 502 upstream_unreachable when the storage connection breaks mid-file, not a 500', async () => {
    const cut = new Readable({
      read() {
        this.push(Buffer.from('first half'));
        this.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
      },
    });
    const links = new FileLinkService(config, storageSending(cut), {} as CredentialService, shared);
    const failure = await links.bytes(source, '/backend-api/files/file-1/download').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ApiError);
    expect((failure as ApiError).getStatus()).toBe(502);
    expect((failure as ApiError).body.error).toMatchObject({ type: 'upstream_error', code: 'upstream_unreachable' });
  });

  it('reads a whole file', async () => {
    const links = new FileLinkService(
      config,
      storageSending(Readable.from([Buffer.from('ab'), Buffer.from('cd')])),
      {} as CredentialService,
      shared,
    );
    expect(await links.bytes(source, '/backend-api/files/file-1/download')).toEqual({
      bytes: Buffer.from('abcd'),
      contentType: 'image/png',
    });
  });
});
