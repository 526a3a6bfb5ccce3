import { promisify } from 'node:util';
import zlib from 'node:zlib';

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const inflateRaw = promisify(zlib.inflateRaw);
const brotli = promisify(zlib.brotliDecompress);

/** The encodings we can decode to rewrite a body; anything else passes through untouched. */
export function isKnownEncoding(encoding: string): boolean {
  return ['', 'identity', 'gzip', 'x-gzip', 'deflate', 'br'].includes(encoding);
}

/** The body as the upstream meant it, before its `Content-Encoding`. */
export async function decodeBody(raw: Buffer, encoding: string): Promise<Buffer> {
  switch (encoding) {
    case 'gzip':
    case 'x-gzip':
      return gunzip(raw);
    case 'br':
      return brotli(raw);
    case 'deflate':
      // "deflate" is meant to be zlib-wrapped, but some servers send a raw deflate stream.
      return (raw[0] & 0x0f) === 0x08 ? inflate(raw) : inflateRaw(raw);
    default:
      return raw;
  }
}
