import sharp from 'sharp';
import { ApiError } from '../common/errors/api-error';
import { encodeImage } from './image-format';

describe('encodeImage', () => {
  const transparentPng = () =>
    sharp({ create: { width: 8, height: 4, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
      .png()
      .toBuffer();

  it('hands back the same bytes when they already are in the format asked for', async () => {
    const png = await transparentPng();
    expect(await encodeImage(png, { format: 'png' })).toBe(png);
    expect(await encodeImage(png, { format: 'png', compression: 10 })).toBe(png);
  });

  it('re-encodes into jpeg and webp, keeping the size, and paints transparency white in a jpeg', async () => {
    const png = await transparentPng();
    const jpeg = await encodeImage(png, { format: 'jpeg' });
    const webp = await encodeImage(png, { format: 'webp', compression: 40 });
    expect(await sharp(jpeg).metadata()).toMatchObject({ format: 'jpeg', width: 8, height: 4 });
    expect(await sharp(webp).metadata()).toMatchObject({ format: 'webp', width: 8, height: 4 });
    const { data } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
    expect(Math.min(...data)).toBeGreaterThan(240);
  });

  it('answers 502 image_conversion_failed for bytes that are not an image', async () => {
    const failure = await encodeImage(Buffer.from('not an image at all'), { format: 'jpeg' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ApiError);
    expect((failure as ApiError).getStatus()).toBe(502);
    expect((failure as ApiError).body.error.code).toBe('image_conversion_failed');
  });
});

describe('encodeImage without a usable sharp', () => {
  it('answers 500 image_conversion_unavailable naming the cause, and converts nothing', async () => {
    jest.resetModules();
    jest.doMock('sharp', () => {
      throw new Error('Could not load the "sharp" module using the linux-x64 runtime');
    });
    const { encodeImage: encodeWithoutSharp } = jest.requireActual<typeof import('./image-format')>('./image-format');
    const { ApiError: IsolatedApiError } = jest.requireActual<typeof import('../common/errors/api-error')>('../common/errors/api-error');
    const failure = await encodeWithoutSharp(Buffer.from('x'), { format: 'jpeg' }).catch((error: unknown) => error);
    jest.dontMock('sharp');
    expect(failure).toBeInstanceOf(IsolatedApiError);
    expect((failure as ApiError).getStatus()).toBe(500);
    expect((failure as ApiError).body.error).toMatchObject({ type: 'server_error', code: 'image_conversion_unavailable' });
    expect((failure as ApiError).body.error.message).toContain('Could not load the "sharp" module');
  });
});
