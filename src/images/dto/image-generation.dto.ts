import { IsBoolean, IsIn, IsInt, IsNotEmpty, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { IMAGE_OUTPUT_FORMATS, type ImageOutputFormat } from '../../files/image-format';

export const IMAGE_RESPONSE_FORMATS = ['url', 'b64_json'] as const;
/** The values OpenAI's image models take, any of them (DALL·E's and the GPT image models'); the upstream's tool chooses. */
const QUALITIES = ['standard', 'hd', 'low', 'medium', 'high', 'auto'] as const;
const BACKGROUNDS = ['transparent', 'opaque', 'auto'] as const;
const STYLES = ['vivid', 'natural'] as const;
const MODERATIONS = ['low', 'auto'] as const;

function oneOf(values: readonly string[]) {
  return IsIn(values, { message: `must be one of ${values.join(', ')}` });
}

/**
 * The fields of OpenAI's `POST /v1/images/generations` that we read or check; others (user…) are ignored. `quality`,
 * `background`, `style` and `moderation` are checked against OpenAI's values, so a typo is a 400 as there, but the
 * upstream's image tool has no such settings.
 */
export class ImageGenerationRequestDto {
  @IsString() @IsNotEmpty() prompt!: string;
  @IsOptional() @IsString() model?: string;
  @IsOptional() @IsInt() @Min(1) @Max(1, { message: 'must be 1: one image per upstream conversation (n > 1 is not supported)' }) n?: number;
  @IsOptional()
  @IsString()
  @Matches(/^(auto|\d{2,5}x\d{2,5})$/, { message: 'must be WIDTHxHEIGHT (e.g. 1024x1024) or auto' })
  size?: string;
  @IsOptional() @oneOf(IMAGE_RESPONSE_FORMATS) response_format?: (typeof IMAGE_RESPONSE_FORMATS)[number];
  /** The image's encoding (GPT image models at OpenAI; honoured for any model here): the upstream's image is converted. */
  @IsOptional() @oneOf(IMAGE_OUTPUT_FORMATS) output_format?: ImageOutputFormat;
  /** 0 to 100, for jpeg and webp (OpenAI's default 100). */
  @IsOptional() @IsInt() @Min(0) @Max(100) output_compression?: number;
  /** Server-sent events instead of one JSON answer; OpenAI streams only the GPT image models. */
  @IsOptional() @IsBoolean() stream?: boolean;
  /**
   * OpenAI's 0 to 3 previews before the final image. Accepted, but the upstream hands out only the finished image,
   * so a stream carries none.
   */
  @IsOptional() @IsInt() @Min(0) @Max(3) partial_images?: number;
  @IsOptional() @oneOf(QUALITIES) quality?: (typeof QUALITIES)[number];
  @IsOptional() @oneOf(BACKGROUNDS) background?: (typeof BACKGROUNDS)[number];
  @IsOptional() @oneOf(STYLES) style?: (typeof STYLES)[number];
  @IsOptional() @oneOf(MODERATIONS) moderation?: (typeof MODERATIONS)[number];
}
