import { IsBoolean, IsIn, IsInt, IsNotEmpty, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { IMAGE_OUTPUT_FORMATS, type ImageOutputFormat } from '../../files/image-format';

export const IMAGE_RESPONSE_FORMATS = ['url', 'b64_json'] as const;

/** The fields of OpenAI's `POST /v1/images/generations` that we read; others (style, user…) are ignored. */
export class ImageGenerationRequestDto {
  @IsString() @IsNotEmpty() prompt!: string;
  @IsOptional() @IsString() model?: string;
  @IsOptional() @IsInt() @Min(1) @Max(1, { message: 'must be 1: one image per upstream conversation (n > 1 is not supported)' }) n?: number;
  @IsOptional()
  @IsString()
  @Matches(/^(auto|\d{2,5}x\d{2,5})$/, { message: 'must be WIDTHxHEIGHT (e.g. 1024x1024) or auto' })
  size?: string;
  @IsOptional()
  @IsIn(IMAGE_RESPONSE_FORMATS, { message: `must be one of ${IMAGE_RESPONSE_FORMATS.join(', ')}` })
  response_format?: (typeof IMAGE_RESPONSE_FORMATS)[number];
  /** The image's encoding (GPT image models at OpenAI; honoured for any model here): the upstream's image is converted. */
  @IsOptional()
  @IsIn(IMAGE_OUTPUT_FORMATS, { message: `must be one of ${IMAGE_OUTPUT_FORMATS.join(', ')}` })
  output_format?: ImageOutputFormat;
  /** 0 to 100, for jpeg and webp (OpenAI's default 100). */
  @IsOptional() @IsInt() @Min(0) @Max(100) output_compression?: number;
  /** Server-sent events instead of one JSON answer; OpenAI streams only the GPT image models. */
  @IsOptional() @IsBoolean() stream?: boolean;
  /**
   * OpenAI's 0 to 3 previews before the final image. Accepted, but the upstream hands out only the finished image,
   * so a stream carries none.
   */
  @IsOptional() @IsInt() @Min(0) @Max(3) partial_images?: number;
}
