import { ApiError } from '../common/errors/api-error';
import type { FormFile, MultipartFileField } from '../common/http/request-body';
import type { FileBytes } from '../chat/client-file.fetcher';
import { imageSize, imageTypeOf } from '../chat/image-size';
import { imageDecodeProblem } from '../files/image-format';
import { MAX_EDIT_IMAGES } from './dto/image-edit.dto';

/** The files of an edit by field name: `image` (repeated, or `image[]` as the openai SDKs send a list) and `mask`. */
export type ImageEditFiles = Partial<Record<string, FormFile[]>>;

/** The file fields of `POST /v1/images/edits`. */
export const IMAGE_EDIT_FILE_FIELDS: readonly MultipartFileField[] = [
  { name: 'image', maxCount: MAX_EDIT_IMAGES },
  { name: 'image[]', maxCount: MAX_EDIT_IMAGES },
  { name: 'mask', maxCount: 1 },
];

const MB = 1024 * 1024;

/** What OpenAI's edit models take: how many images, of which types, how large. */
interface EditInputRule {
  maxImages: number;
  types: readonly string[];
  maxBytes: number;
  limit: string;
}

const DALL_E_2: EditInputRule = { maxImages: 1, types: ['image/png'], maxBytes: 4 * MB, limit: '4MB' };
const GPT_IMAGE: EditInputRule = {
  maxImages: MAX_EDIT_IMAGES,
  types: ['image/png', 'image/jpeg', 'image/webp'],
  maxBytes: 50 * MB,
  limit: '50MB',
};

/**
 * The images to edit, checked as OpenAI checks them for `model` before any upstream work: at least one, no more
 * than the model takes, each of a type it reads, below its size limit and decodable to the end. A mask is refused:
 * the upstream's image tool takes none (README, "Image edits").
 */
export async function editImagesOf(files: ImageEditFiles | undefined, model: string): Promise<FileBytes[]> {
  assertEditModel(model);
  const images = [...(files?.image ?? []), ...(files?.['image[]'] ?? [])];
  if (images.length === 0) throw ApiError.of('missing_required_parameter', { param: 'image' }, { param: 'image' });
  if (files?.mask?.length) throw ApiError.of('image_mask_unsupported', {});
  const rule = model.startsWith('dall-e-2') ? DALL_E_2 : GPT_IMAGE;
  if (images.length > rule.maxImages) {
    const problem = `model '${model}' takes at most ${rule.maxImages} image${rule.maxImages === 1 ? '' : 's'}, got ${images.length}`;
    throw ApiError.of('invalid_value', { param: 'image', problem }, { param: 'image' });
  }
  const checked: FileBytes[] = [];
  for (const [index, file] of images.entries()) {
    const param = images.length === 1 ? 'image' : `image[${index}]`;
    checked.push(await checkedImage(file, param, rule, model));
  }
  return checked;
}

/** OpenAI's models that edit; `dall-e-3` only generates, and OpenAI refuses an edit with it naming `model`. */
const EDIT_MODELS = ['dall-e-2', 'gpt-image-1', 'gpt-image-1-mini', 'gpt-image-1.5', 'gpt-image-2', 'chatgpt-image-latest'];

/** Refuses a model OpenAI does not edit with (`dall-e-3`), as OpenAI does, before any upstream work. */
export function assertEditModel(model: string): void {
  if (!/^dall-e-3(?:$|-)/.test(model)) return;
  const supported = EDIT_MODELS.map((name) => `'${name}'`).join(', ');
  throw ApiError.of('image_edit_model_unsupported', { model, supported });
}

/**
 * The images of an edit, their count known up front; the bytes of a URL reference are fetched when an attempt first
 * needs them (after the upstream accepted the credential), and checked then, once however many attempts ask.
 */
export interface EditSources {
  count: number;
  load(): Promise<FileBytes[]>;
}

/** Sources whose bytes are all here and checked (a multipart edit's files). */
export function loadedSources(images: FileBytes[]): EditSources {
  return { count: images.length, load: () => Promise.resolve(images) };
}

/**
 * The checks of `editImagesOf` for one image of a JSON edit (`images[n].image_url` fetched or decoded, or
 * `images[n].file_id` read from `/v1/files`), which only
 * the GPT image models take: its type by its bytes, its size, and that it decodes to the end.
 */
export function checkedReferencedImage(file: FileBytes, param: string, model: string): Promise<FileBytes> {
  return checkedImage({ buffer: file.bytes, mimetype: file.mimeType, originalname: file.name ?? '' }, param, GPT_IMAGE, model);
}

/**
 * What a JSON edit may reference, before anything is fetched: OpenAI takes JSON edits with the GPT image models only
 * (dall-e-2 edits are multipart), and no mask here. Its `image_url`s and `file_id`s are read as a chat reads them.
 */
export function assertReferencesUsable(model: string, mask: unknown, files?: ImageEditFiles): void {
  assertEditModel(model);
  if (Object.values(files ?? {}).some((list) => list?.length)) {
    const problem = 'send the images either as files of a multipart/form-data body (image) or as references in JSON (images), not both';
    throw ApiError.of('invalid_value', { param: 'images', problem }, { param: 'images' });
  }
  if (model.startsWith('dall-e-2')) {
    const supported = EDIT_MODELS.filter((name) => !name.startsWith('dall-e'))
      .map((name) => `'${name}'`)
      .join(', ');
    throw ApiError.of('image_edit_model_unsupported', { model, supported });
  }
  if (mask !== undefined) throw ApiError.of('image_mask_unsupported', {});
}

async function checkedImage(file: FormFile, param: string, rule: EditInputRule, model: string): Promise<FileBytes> {
  const bytes = file.buffer;
  // What the bytes are, not what the client declared: the SDKs send `application/octet-stream` for a bare buffer.
  const type = imageTypeOf(bytes);
  if (!type || !rule.types.includes(type)) {
    const supported = rule.types.map((mime) => `'${mime}'`).join(', ');
    throw ApiError.of('unsupported_file_mimetype', { param, type: type ?? file.mimetype, supported }, { param });
  }
  if (bytes.length >= rule.maxBytes) {
    throw ApiError.of('image_file_too_large', { param, size: bytes.length, model, limit: rule.limit }, { param });
  }
  const problem = imageSize(bytes) ? await imageDecodeProblem(bytes) : 'the image header is truncated';
  if (problem) throw ApiError.of('invalid_image_file', { param, problem: `the image could not be decoded (${problem})` }, { param });
  return { bytes, mimeType: type };
}
