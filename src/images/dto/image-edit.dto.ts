import { Transform } from 'class-transformer';
import { IsEmpty, IsIn, IsOptional } from 'class-validator';
import { ImageGenerationRequestDto } from './image-generation.dto';

const INPUT_FIDELITIES = ['high', 'low'] as const;
const NOT_A_FILE = 'must be a file, sent as a file part of a multipart/form-data body';

/** A form field's text as a number when it is one ("1" → 1); anything else is left for the validators to refuse. */
const FormNumber = () =>
  Transform(({ value }: { value: unknown }) => (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value));

/** A form field's "true" or "false" as a boolean (what the openai SDKs send for `stream`). */
const FormBoolean = () => Transform(({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value));

/**
 * The text fields of OpenAI's `POST /v1/images/edits` (multipart/form-data): those of a generation, read from form
 * text. The images and the mask are files, not fields (`ImageEditFiles`); `input_fidelity` and `user` are accepted
 * and have no upstream counterpart.
 */
export class ImageEditRequestDto extends ImageGenerationRequestDto {
  // Redeclared only to read them from form text; the validators are the generation's.
  @FormNumber() override n?: number = undefined;
  @FormNumber() override output_compression?: number = undefined;
  @FormNumber() override partial_images?: number = undefined;
  @FormBoolean() override stream?: boolean = undefined;
  @IsOptional() @IsIn(INPUT_FIDELITIES, { message: `must be one of ${INPUT_FIDELITIES.join(', ')}` }) input_fidelity?: string;
  @IsEmpty({ message: NOT_A_FILE }) image?: unknown;
  @IsEmpty({ message: NOT_A_FILE }) mask?: unknown;
}
