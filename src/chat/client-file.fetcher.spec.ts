import { Readable } from 'node:stream';
import { ApiError } from '../common/errors/api-error';
import type { AppConfig } from '../config/app-config';
import type { UpstreamClient } from '../upstream/upstream.client';
import { AttachmentBudget, ClientFileFetcher, decodeDataUrl } from './client-file.fetcher';

describe('decodeDataUrl', () => {
  const param = 'messages[0].content[0].image_url.url';

  it.each([
    'data:image/png;base64,aGk=',
    'data:image/png;BASE64,aGk=',
    'data:IMAGE/PNG;Base64,aGk=',
    'data:image/png;charset=x;base64,aG\nk=',
  ])('decodes %p (the base64 marker and the type are case-insensitive, as browsers read them)', (url) => {
    expect(decodeDataUrl(url, param)).toEqual({ bytes: Buffer.from('hi'), mimeType: 'image/png' });
  });

  it.each([
    'data:image/png,aGk=',
    'data:image/png;base64,',
    'data:image/png;base64,a!b=',
    'data:image/png;base64,aGk=x',
    'https://x/a.png',
  ])('refuses %p with 400 invalid_base64 naming the part', (url) => {
    const error = (() => {
      try {
        decodeDataUrl(url, param);
      } catch (thrown) {
        return thrown as ApiError;
      }
    })();
    expect(error?.body.error).toMatchObject({ code: 'invalid_base64', param });
  });
});

describe('ClientFileFetcher.fetch', () => {
  const param = 'messages[0].content[0].image_url.url';
  const config = { allowPrivateFileUrls: false, maxBodyBytes: 1024 } as AppConfig;

  function answering(status: number, headers: Record<string, string> = {}): UpstreamClient {
    return { stream: async () => ({ status, headers, body: Readable.from([Buffer.from('x')]) }) } as unknown as UpstreamClient;
  }

  async function failureOf(fetcher: ClientFileFetcher): Promise<ApiError> {
    const url = new URL('https://images.example.com/cat.png');
    return fetcher.fetch({ url, raw: url.toString(), param }, new AttachmentBudget(1024), new AbortController().signal).then(
      () => {
        throw new Error('expected a failure');
      },
      (error: unknown) => error as ApiError,
    );
  }

  it('says that a redirect is not followed, and where it led, rather than only its status', async () => {
    const error = await failureOf(new ClientFileFetcher(config, answering(302, { location: 'https://cdn.example.com/cat.png' })));
    expect(error.body.error).toMatchObject({ code: 'invalid_image_url', param });
    expect(error.body.error.message).toBe(
      `Could not fetch '${param}': it redirects (status 302) to https://cdn.example.com/cat.png, and redirects are not followed; send the final URL.`,
    );
  });

  it.each([
    ['https://docs.example.com/files/Quarterly%20Report%20(Q3).pdf', 'Quarterly Report _Q3_.pdf'],
    ['https://docs.example.com/files/%E6%8A%A5%E5%91%8A.pdf', '报告.pdf'],
    ['https://docs.example.com/files/..%2F..%2Fetc%2Fpasswd', '.._.._etc_passwd'],
    ['https://docs.example.com/files/bad%E0%A4%A.pdf', 'bad_E0_A4_A.pdf'],
    ['https://docs.example.com/', undefined],
  ])('names the file from the last segment of %s as it reads, not percent-encoded', async (raw, name) => {
    const url = new URL(raw);
    const fetcher = new ClientFileFetcher(config, answering(200, { 'content-type': 'application/pdf' }));
    const file = await fetcher.fetch({ url, raw, param }, new AttachmentBudget(1024), new AbortController().signal);
    expect(file.name).toBe(name);
  });

  it.each([
    ['a file part', { type: 'file' as const, file: { file_data: 'data:application/pdf;base64,aGk=', filename: null } }],
    ['an image_url part', { type: 'image_url' as const, image_url: { url: 'data:image/png;base64,aGk=', filename: null } }],
  ])('reads a null filename of %s as none given', async (_name, part) => {
    const fetcher = new ClientFileFetcher(config, answering(200));
    const file = await fetcher.open(part as unknown as Parameters<ClientFileFetcher['open']>[0], param);
    expect(file).toMatchObject({ bytes: Buffer.from('hi') });
    expect((file as { name?: string }).name).toBeUndefined();
  });

  it("names a file part whose filename is empty as none given, so the upload gets a made-up name rather than ''", async () => {
    const fetcher = new ClientFileFetcher(config, answering(200));
    const part = { type: 'file' as const, file: { file_data: 'data:application/pdf;base64,aGk=', filename: '' } };
    expect((await fetcher.open(part, 'messages[0].content[0].file.file_data')).name).toBeUndefined();
  });

  it("keeps the letters of a file part's filename in any script", async () => {
    const fetcher = new ClientFileFetcher(config, answering(200));
    const part = { type: 'file' as const, file: { file_data: 'data:application/pdf;base64,aGk=', filename: 'Отчёт 报告 (final).pdf' } };
    expect(await fetcher.open(part, 'messages[0].content[0].file.file_data')).toMatchObject({ name: 'Отчёт 报告 _final_.pdf' });
  });

  it.each(['', '   '])('gives a file or image part whose filename is %p no name, so that the upload generates one', async (filename) => {
    const fetcher = new ClientFileFetcher(config, answering(200));
    const file = { type: 'file' as const, file: { file_data: 'data:application/pdf;base64,aGk=', filename } };
    expect(await fetcher.open(file, 'messages[0].content[0].file.file_data')).toEqual({
      bytes: Buffer.from('hi'),
      mimeType: 'application/pdf',
      name: undefined,
    });
    const image = { type: 'image_url' as const, image_url: { url: 'data:image/png;base64,aGk=', filename } };
    expect(await fetcher.open(image, 'messages[0].content[0].image_url.url')).toMatchObject({ name: undefined });
  });

  it('names the status of any other answer', async () => {
    const error = await failureOf(new ClientFileFetcher(config, answering(404)));
    expect(error.body.error.message).toBe(`Could not fetch '${param}': status 404.`);
  });
});
