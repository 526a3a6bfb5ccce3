import { ApiError } from '../common/errors/api-error';
import { decodeDataUrl } from './client-file.fetcher';

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
