import { Transform } from 'class-transformer';
import { IsEmpty, IsIn, IsOptional, ValidateIf } from 'class-validator';
import { ValidatedBy, type ValidationDetailFn } from '../../common/pipes/validation';
import { ImageGenerationRequestDto } from './image-generation.dto';

const INPUT_FIDELITIES = ['high', 'low'] as const;
const NOT_A_FILE = 'must be a file, sent as a file part of a multipart/form-data body';
/** OpenAI's most images per edit (GPT image models). */
export const MAX_EDIT_IMAGES = 16;

/** A form field's text as a number when it is one ("1" → 1); anything else is left for the validators to refuse. */
const FormNumber = () =>
  Transform(({ value }: { value: unknown }) => (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value));

/** A form field's "true" or "false" as a boolean (what the openai SDKs send for `stream`). */
const FormBoolean = () => Transform(({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value));

/** One image of a JSON edit (OpenAI's `ImageRefParam`): exactly one of a URL (http(s) or `data:`) and an uploaded file's id. */
export interface ImageReference {
  image_url?: string;
  file_id?: string;
}

const REFERENCE_KEYS = ['image_url', 'file_id'] as const;

/** What is wrong with `images`, naming the item and key: 1 to 16 objects, each with exactly one non-empty reference. */
const imageReferencesProblem: ValidationDetailFn = (value) => {
  if (!Array.isArray(value)) return { path: '', message: 'must be an array of objects with image_url or file_id' };
  if (value.length === 0) return { path: '', message: 'must not be empty', code: 'empty_array' };
  if (value.length > MAX_EDIT_IMAGES) {
    return { path: '', message: `array too long, expected at most ${MAX_EDIT_IMAGES} items`, code: 'array_above_max_length' };
  }
  for (const [index, item] of (value as unknown[]).entries()) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      return { path: `[${index}]`, message: 'must be an object with image_url or file_id', missing: item === null || item === undefined };
    }
    const given = REFERENCE_KEYS.filter((key) => (item as Record<string, unknown>)[key] != null);
    if (given.length !== 1) return { path: `[${index}]`, message: 'must have exactly one of image_url and file_id' };
    const reference = (item as Record<string, unknown>)[given[0]];
    if (typeof reference !== 'string' || reference.trim() === '') {
      return { path: `[${index}].${given[0]}`, message: 'must be a non-empty string' };
    }
  }
  return null;
};

/**
 * The fields of OpenAI's `POST /v1/images/edits`: those of a generation, read from form text as well as from JSON.
 * A multipart request sends its images and mask as files (`ImageEditFiles`); a JSON one references them in `images`.
 * `input_fidelity` and `user` are accepted and have no upstream counterpart.
 */
export class ImageEditRequestDto extends ImageGenerationRequestDto {
  // Redeclared only to read them from form text; the validators are the generation's.
  @FormNumber() override n?: number = undefined;
  @FormNumber() override output_compression?: number = undefined;
  @FormNumber() override partial_images?: number = undefined;
  @FormBoolean() override stream?: boolean = undefined;
  @IsOptional() @IsIn(INPUT_FIDELITIES, { message: `must be one of ${INPUT_FIDELITIES.join(', ')}` }) input_fidelity?: string;
  /** JSON: the images to edit, by URL or file id. */
  @IsOptional() @ValidatedBy('isImageReferences', imageReferencesProblem, 'must be an array of image references') images?: ImageReference[];
  @IsEmpty({ message: NOT_A_FILE }) image?: unknown;
  /** A file in a multipart body, a reference in JSON; either way refused by the service (the image tool takes no mask), text here. */
  @ValidateIf((_request: unknown, value: unknown) => typeof value === 'string') @IsEmpty({ message: NOT_A_FILE }) mask?: unknown;
}
