import zlib from 'node:zlib';
import { canDecode, decodeBody, DecodedBodyTooLarge, OFFERED_CODINGS } from './content-encoding';

const text = Buffer.from('var t="secret";'.repeat(10));
const LIMIT = 1024 * 1024;
const nodeHasZstd = typeof (zlib as { zstdDecompress?: unknown }).zstdDecompress === 'function';

describe('content codings of rewritten bodies', () => {
  it('decodes stacked codings last first', async () => {
    const stacked = zlib.brotliCompressSync(zlib.gzipSync(text));
    expect(canDecode('gzip, br')).toBe(true);
    expect(await decodeBody(stacked, 'gzip, br', LIMIT)).toEqual(text);
    expect(await decodeBody(zlib.deflateRawSync(text), ' Deflate ', LIMIT)).toEqual(text);
    expect(await decodeBody(text, 'identity', LIMIT)).toEqual(text);
  });

  it('knows which codings it cannot decode, alone or stacked, and never offers them', () => {
    expect(canDecode('compress')).toBe(false);
    expect(canDecode('gzip, compress')).toBe(false);
    expect(canDecode('zstd')).toBe(nodeHasZstd);
    expect(canDecode('gzip, zstd')).toBe(nodeHasZstd);
    expect(OFFERED_CODINGS).toEqual(nodeHasZstd ? ['gzip', 'br', 'deflate', 'zstd'] : ['gzip', 'br', 'deflate']);
  });

  it('stops a body that expands past the limit, in any coding: a compression bomb never fills memory', async () => {
    const bomb = Buffer.alloc(LIMIT + 1);
    for (const [coding, packed] of [
      ['gzip', zlib.gzipSync(bomb)],
      ['br', zlib.brotliCompressSync(bomb)],
      ['deflate', zlib.deflateSync(bomb)],
      ['gzip, br', zlib.brotliCompressSync(zlib.gzipSync(bomb))],
    ] as const) {
      expect(packed.length).toBeLessThan(LIMIT / 100);
      await expect(decodeBody(packed, coding, LIMIT)).rejects.toBeInstanceOf(DecodedBodyTooLarge);
    }
    expect(await decodeBody(zlib.gzipSync(Buffer.alloc(LIMIT)), 'gzip', LIMIT)).toHaveLength(LIMIT);
  });

  it('refuses to decode what it cannot, rather than hand it on as it came', async () => {
    await expect(decodeBody(text, 'gzip, compress', LIMIT)).rejects.toThrow(/compress/);
  });
});
