import { imageSize, imageTypeOf } from './image-size';

/** The first bytes of each format, enough for its type and size (3 x 2). */
const png = Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), u32be(3), u32be(2)]);
const gif = Buffer.concat([Buffer.from('GIF89a', 'latin1'), Buffer.from([3, 0, 2, 0])]);
const webp = Buffer.concat([Buffer.from('RIFF\0\0\0\0WEBPVP8X', 'latin1'), Buffer.alloc(8), Buffer.from([2, 0, 0, 1, 0, 0])]);
const jpeg = Buffer.from('ffd8ffc00011080002000303', 'hex');

function u32be(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value);
  return bytes;
}

describe('imageTypeOf and imageSize', () => {
  it.each([
    ['image/png', png],
    ['image/gif', gif],
    ['image/webp', webp],
    ['image/jpeg', jpeg],
  ])('tell %s by its bytes, with its size', (type, bytes) => {
    expect(imageTypeOf(bytes)).toBe(type);
    expect(imageSize(bytes)).toEqual({ width: 3, height: 2 });
  });

  it.each([
    ['text', Buffer.from('just some text, long enough to be read as a header')],
    ['a PDF', Buffer.from('%PDF-1.7\n% a document that is no image')],
    ['a truncated PNG signature', png.subarray(0, 8)],
  ])('know %s is no image', (_name, bytes) => {
    expect(imageTypeOf(bytes)).toBeNull();
    expect(imageSize(bytes)).toBeNull();
  });
});
