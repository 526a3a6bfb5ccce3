import { promisify } from 'node:util';
import zlib from 'node:zlib';

type Decoder = (raw: Buffer, options: { maxOutputLength: number }) => Promise<Buffer>;

const inflate = promisify(zlib.inflate);
const inflateRaw = promisify(zlib.inflateRaw);
const gunzip: Decoder = promisify(zlib.gunzip);
/** Node has zstd from 22.15 and 23.8 only; where it has none, a zstd body cannot be decoded (nor is zstd offered). */
const zstdDecompress = (
  zlib as {
    zstdDecompress?: (raw: Buffer, options: { maxOutputLength: number }, callback: (error: Error | null, result: Buffer) => void) => void;
  }
).zstdDecompress;

/** The content codings we can decode to rewrite a body, and so the only ones we offer upstream. */
const DECODERS: Record<string, Decoder> = {
  gzip: gunzip,
  'x-gzip': gunzip,
  br: promisify(zlib.brotliDecompress),
  // "deflate" is meant to be zlib-wrapped, but some servers send a raw deflate stream.
  deflate: (raw, options) => ((raw[0] & 0x0f) === 0x08 ? inflate(raw, options) : inflateRaw(raw, options)),
  ...(zstdDecompress ? { zstd: promisify(zstdDecompress) } : {}),
};

/** What we may offer in `Accept-Encoding`: every coding we decode, under its standard name. */
export const OFFERED_CODINGS: readonly string[] = Object.keys(DECODERS).filter((coding) => coding !== 'x-gzip');

/** The codings of a `Content-Encoding` value, in the order they were applied (`identity` is none). */
function codingsOf(encoding: string): string[] {
  return encoding
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
}

/** Whether a body with this `Content-Encoding` can be decoded: every coding of it, stacked ones included. */
export function canDecode(encoding: string): boolean {
  return codingsOf(encoding).every((coding) => Object.hasOwn(DECODERS, coding));
}

/** A decoded body larger than the limit: a compression bomb, or simply more than we rewrite. */
export class DecodedBodyTooLarge extends Error {}

/**
 * The body as the upstream meant it, before its `Content-Encoding` (stacked codings undone last first), at most
 * `maxBytes` long: a few kilobytes of gzip or brotli can expand to gigabytes.
 */
export async function decodeBody(raw: Buffer, encoding: string, maxBytes: number): Promise<Buffer> {
  let body = raw;
  for (const coding of codingsOf(encoding).reverse()) {
    const decode = Object.hasOwn(DECODERS, coding) ? DECODERS[coding] : undefined;
    if (!decode) throw new Error(`cannot decode the content coding ${coding}`);
    try {
      body = await decode(body, { maxOutputLength: maxBytes });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
        throw new DecodedBodyTooLarge(`decoded body over ${maxBytes} bytes`);
      throw error;
    }
  }
  return body;
}
