import sharp from 'sharp';
import { crc32, deflateSync } from 'node:zlib';
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

  // A flat grey PNG of a few tens of kilobytes that decodes to 36 million pixels: far beyond any image the upstream
  // draws (3840x2160 at most). sharp's own limit lets up to 268 million through, each seconds of CPU and memory to convert.
  function flatGreyPng(width: number, height: number): Buffer {
    const chunk = (type: string, data: Buffer) => {
      const length = Buffer.alloc(4);
      length.writeUInt32BE(data.length);
      const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(typed));
      return Buffer.concat([length, typed, crc]);
    };
    const header = Buffer.alloc(13);
    header.writeUInt32BE(width, 0);
    header.writeUInt32BE(height, 4);
    header.writeUInt8(8, 8); // 8 bits per sample, greyscale, deflate, no filter, no interlace
    const rows = Buffer.alloc((width + 1) * height);
    const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    return Buffer.concat([signature, chunk('IHDR', header), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
  }

  it('refuses an image of far more pixels than any the upstream draws (502 image_conversion_failed), without decoding it', async () => {
    const bomb = flatGreyPng(6000, 6000);
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const failure = await encodeImage(bomb, { format: 'jpeg' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ApiError);
    expect((failure as ApiError).getStatus()).toBe(502);
    expect((failure as ApiError).body.error.code).toBe('image_conversion_failed');
    expect((failure as ApiError).body.error.message).toMatch(/pixel/i);
  }, 120_000);

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
