import type sharpModule from 'sharp';
import { ApiError } from '../common/errors/api-error';

/** OpenAI's `output_format` values for the GPT image models. */
export const IMAGE_OUTPUT_FORMATS = ['png', 'jpeg', 'webp'] as const;
export type ImageOutputFormat = (typeof IMAGE_OUTPUT_FORMATS)[number];

/** The encoding a client asked for: `output_format`, and `output_compression` (0–100, OpenAI's default 100) for jpeg and webp. */
export interface ImageOutput {
  format: ImageOutputFormat;
  compression?: number;
}

export const IMAGE_OUTPUT_MIME_TYPES: Record<ImageOutputFormat, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };

/**
 * The most pixels an image may have to be converted: four times the largest the Images API asks the upstream for
 * (3840x2160, src/images/image-sizes.ts). A small file may decode to far more (a flat PNG of a few kilobytes can
 * claim 16384x16384, sharp's own limit), and converting it would hold the CPU and hundreds of megabytes.
 */
const MAX_INPUT_PIXELS = 4 * 3840 * 2160;

let sharpFactory: Promise<typeof sharpModule> | undefined;

/**
 * sharp (libvips) is loaded on the first conversion only: most requests never convert, and the process need not
 * carry the native library until one does. Its operation cache is off: conversions are one-off, and a cache would
 * hold decoded images long after their answer went out.
 */
function loadSharp(): Promise<typeof sharpModule> {
  sharpFactory ??= import('sharp').then(({ default: sharp }) => {
    sharp.cache(false);
    return sharp;
  });
  return sharpFactory;
}

/**
 * `bytes` (the image the upstream drew, whatever its format) encoded as `output` asks: unchanged when it already is
 * in that format and no compression was asked for, else re-encoded. JPEG has no transparency: transparent pixels
 * become white, as on a page, rather than libvips' black.
 */
export async function encodeImage(bytes: Buffer, output: ImageOutput): Promise<Buffer> {
  let sharp: typeof sharpModule;
  try {
    sharp = await loadSharp();
  } catch (error) {
    // An install without sharp's binary for this platform: ours to fix, and said so rather than as an unknown failure.
    throw ApiError.of('image_conversion_unavailable', { reason: (error as Error).message.split('\n')[0] });
  }
  try {
    const image = sharp(bytes, { failOn: 'error', limitInputPixels: MAX_INPUT_PIXELS });
    const { format } = await image.metadata();
    if (format === output.format && (output.compression === undefined || output.format === 'png')) return bytes;
    const quality = output.compression ?? 100;
    switch (output.format) {
      case 'jpeg':
        return await image.flatten({ background: '#ffffff' }).jpeg({ quality }).toBuffer();
      case 'webp':
        return await image.webp({ quality }).toBuffer();
      case 'png':
        return await image.png().toBuffer();
    }
  } catch (error) {
    throw ApiError.of('image_conversion_failed', { format: output.format, reason: (error as Error).message });
  }
}

/**
 * Why `bytes` is not an image that decodes to the end (a truncated or corrupt file whose header still looks right),
 * or undefined when it is one. The image is decoded in full, within the same pixel limit as a conversion. Without
 * sharp on this platform nothing is decoded here, and the upstream judges the file.
 */
export async function imageDecodeProblem(bytes: Buffer): Promise<string | undefined> {
  let sharp: typeof sharpModule;
  try {
    sharp = await loadSharp();
  } catch {
    return undefined;
  }
  try {
    await sharp(bytes, { failOn: 'error', limitInputPixels: MAX_INPUT_PIXELS }).stats();
    return undefined;
  } catch (error) {
    return (error as Error).message.split('\n')[0];
  }
}
