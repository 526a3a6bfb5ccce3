/** The `size` values one of OpenAI's image models accepts, and how its 400 names them. */
export interface ImageSizeRule {
  accepts(size: string): boolean;
  /** The accepted values as OpenAI's error message lists them. */
  supported: string;
}

/** gpt-image-2's free sizes (openai SDK `ImageGenerateParams.size`). */
const MAX_EDGE = 3840;
const MAX_PIXELS = 3840 * 2160;
const MAX_ASPECT_RATIO = 3;

const DALL_E_2 = listed('256x256', '512x512', '1024x1024');
const DALL_E_3 = listed('1024x1024', '1792x1024', '1024x1792');
const GPT_IMAGE = listed('1024x1024', '1536x1024', '1024x1536', 'auto');
const GPT_IMAGE_2: ImageSizeRule = {
  accepts: (size) => size === 'auto' || freeSizeFits(size),
  supported: `'auto', or WIDTHxHEIGHT with both sides multiples of 16, an aspect ratio between 1:${MAX_ASPECT_RATIO} and ${MAX_ASPECT_RATIO}:1 and at most ${MAX_EDGE}x2160`,
};

/** For a request that names no model: a size any of the fixed lists holds. */
export const ANY_KNOWN_MODEL_SIZE: ImageSizeRule = listed(
  ...new Set(['256x256', '512x512', '1024x1024', '1792x1024', '1024x1792', '1536x1024', '1024x1536', 'auto']),
);

/**
 * The sizes OpenAI accepts for `model`: fixed lists for DALL·E 2, DALL·E 3 and the GPT image models, free sizes
 * within limits for gpt-image-2. Any other name draws with the upstream's image tool, a GPT image model: its sizes.
 */
export function imageSizeRuleFor(model: string): ImageSizeRule {
  if (model.startsWith('dall-e-2')) return DALL_E_2;
  if (model.startsWith('dall-e')) return DALL_E_3;
  if (model.startsWith('gpt-image-2')) return GPT_IMAGE_2;
  return GPT_IMAGE;
}

function listed(...sizes: string[]): ImageSizeRule {
  const quoted = sizes.map((size) => `'${size}'`);
  return { accepts: (size) => sizes.includes(size), supported: `${quoted.slice(0, -1).join(', ')}, and ${quoted.at(-1)}` };
}

function freeSizeFits(size: string): boolean {
  const match = /^(\d+)x(\d+)$/.exec(size);
  if (!match) return false;
  const [width, height] = [Number(match[1]), Number(match[2])];
  if (width === 0 || height === 0 || width % 16 !== 0 || height % 16 !== 0) return false;
  const [longer, shorter] = width > height ? [width, height] : [height, width];
  return longer <= MAX_EDGE && width * height <= MAX_PIXELS && longer <= MAX_ASPECT_RATIO * shorter;
}
