import zlib from 'node:zlib';
import { canDecode, decodeBody, OFFERED_CODINGS } from './content-encoding';

const text = Buffer.from('var t="secret";'.repeat(10));
const nodeHasZstd = typeof (zlib as { zstdDecompress?: unknown }).zstdDecompress === 'function';

describe('content codings of rewritten bodies', () => {
  it('decodes stacked codings last first', async () => {
    const stacked = zlib.brotliCompressSync(zlib.gzipSync(text));
    expect(canDecode('gzip, br')).toBe(true);
    expect(await decodeBody(stacked, 'gzip, br')).toEqual(text);
    expect(await decodeBody(zlib.deflateRawSync(text), ' Deflate ')).toEqual(text);
    expect(await decodeBody(text, 'identity')).toEqual(text);
  });

  it('knows which codings it cannot decode, alone or stacked, and never offers them', () => {
    expect(canDecode('compress')).toBe(false);
    expect(canDecode('gzip, compress')).toBe(false);
    expect(canDecode('zstd')).toBe(nodeHasZstd);
    expect(canDecode('gzip, zstd')).toBe(nodeHasZstd);
    expect(OFFERED_CODINGS).toEqual(nodeHasZstd ? ['gzip', 'br', 'deflate', 'zstd'] : ['gzip', 'br', 'deflate']);
  });

  it('refuses to decode what it cannot, rather than hand it on as it came', async () => {
    await expect(decodeBody(text, 'gzip, compress')).rejects.toThrow(/compress/);
  });
});
