import { Type } from 'class-transformer';
import {
  ArrayNotEmpty,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateBy,
  ValidateNested,
  ValidationOptions,
} from 'class-validator';
import { IsToolChoice, ResponseFormatDto, ToolCallDto, ToolChoice, ToolDto } from './tool-fields.dto';

export const TEAM_ACCOUNT_ID = /^[A-Za-z0-9_-]{1,100}$/;

export const MESSAGE_ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'] as const;
export type MessageRole = (typeof MESSAGE_ROLES)[number];

export interface TextPart {
  type: 'text';
  text: string;
}
export interface ImageUrlPart {
  type: 'image_url';
  image_url: { url: string; detail?: 'auto' | 'low' | 'high' };
}
export interface FilePart {
  type: 'file';
  file: { file_data?: string; filename?: string; file_id?: string };
}
export type ContentPart = TextPart | ImageUrlPart | FilePart | { type: string; [key: string]: unknown };

/** `content` is a string, an array of typed parts, or null (assistant turns with tool calls). */
function IsMessageContent(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isMessageContent',
      validator: {
        validate: (value: unknown, args) => {
          const role = (args?.object as { role?: unknown } | undefined)?.role;
          if (value === null) return role === 'assistant';
          if (typeof value === 'string') return true;
          return (
            Array.isArray(value) &&
            (value.length > 0 || role === 'assistant') &&
            value.every((part) => typeof part === 'object' && part !== null && typeof (part as { type?: unknown }).type === 'string')
          );
        },
        defaultMessage: () => 'must be a string or a non-empty array of content parts with a `type` (null only for assistant messages)',
      },
    },
    options,
  );
}

export class ChatMessageDto {
  @IsIn(MESSAGE_ROLES, { message: `must be one of ${MESSAGE_ROLES.join(', ')}` })
  role: MessageRole;

  @IsMessageContent()
  content: string | ContentPart[] | null;

  @IsOptional() @IsString() name?: string;
  @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => ToolCallDto) tool_calls?: ToolCallDto[];
  @IsOptional() @IsString() tool_call_id?: string;
}

export class StreamOptionsDto {
  @IsOptional() @IsBoolean() include_usage?: boolean;
}

/**
 * The fields of OpenAI's chat completion request that we read or must type-check.
 * Unknown fields are ignored; sampling options are accepted and ignored (openai-api.md §3).
 */
export class ChatCompletionRequestDto {
  @IsOptional() @IsString() model?: string;

  @IsArray() @ArrayNotEmpty() @ValidateNested({ each: true }) @Type(() => ChatMessageDto)
  messages: ChatMessageDto[];

  @IsOptional() @IsBoolean() stream?: boolean;
  @IsOptional() @IsObject() @ValidateNested() @Type(() => StreamOptionsDto) stream_options?: StreamOptionsDto;
  @IsOptional() @IsInt() @Min(1) max_tokens?: number;
  @IsOptional() @IsInt() @Min(1) max_completion_tokens?: number;
  @IsOptional() @IsInt() @Min(1) @Max(1, { message: 'must be 1: one answer per upstream conversation (n > 1 is not supported)' }) n?: number;

  @IsOptional() @IsString() conversation_id?: string;
  @IsOptional() @IsString() parent_message_id?: string;
  @IsOptional() @IsBoolean() history_disabled?: boolean;
  @IsOptional() @IsString() @Matches(TEAM_ACCOUNT_ID, { message: 'must be a workspace id (letters, digits, - and _)' }) 'Chatgpt-Account-Id'?: string;

  @IsOptional() @IsNumber() temperature?: number;
  @IsOptional() @IsNumber() top_p?: number;
  @IsOptional() @IsNumber() presence_penalty?: number;
  @IsOptional() @IsNumber() frequency_penalty?: number;
  @IsOptional() @IsString() user?: string;

  // Function calling and structured output, emulated in src/chat/tools and src/chat/structured-output.
  @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => ToolDto) tools?: ToolDto[];
  @IsOptional() @IsToolChoice() tool_choice?: ToolChoice;
  @IsOptional() @IsBoolean() parallel_tool_calls?: boolean;
  @IsOptional() @IsObject() @ValidateNested() @Type(() => ResponseFormatDto) response_format?: ResponseFormatDto;
}
