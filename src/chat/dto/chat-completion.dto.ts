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
  ValidateIf,
  ValidateNested,
  ValidationOptions,
} from 'class-validator';
import {
  FunctionCallChoice,
  FunctionDefinitionDto,
  IsFunctionCallChoice,
  IsNotWithTools,
  IsToolChoice,
  ResponseFormatDto,
  ToolCallDto,
  ToolChoice,
  ToolDto,
} from './tool-fields.dto';
import { IsNotEmptyArray, IsObjectItems, ValidatedBy, type ValidationDetail, type ValidationDetailFn } from '../../common/pipes/validation';
import { TEAM_ACCOUNT_ID } from '../../common/vocabulary/team-account';
import { MAX_STOP_SEQUENCES } from '../stop-sequences';

export const MESSAGE_ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'] as const;
export type MessageRole = (typeof MESSAGE_ROLES)[number];

export interface TextPart {
  type: 'text';
  text: string;
}
export type ImageDetail = 'auto' | 'low' | 'high';
export interface ImageUrlPart {
  type: 'image_url';
  /** `filename`: the name the file is uploaded under, from a Responses `input_file` with `file_url`; else the URL's last segment. */
  image_url: { url: string; detail?: ImageDetail; filename?: string };
}
/** A file sent inline (`file_data`, a data: URL), or named by the id `/v1/files` gave it (`file_id`); `file_data` wins when both are sent. */
export interface FilePart {
  type: 'file';
  file: { file_data?: string; filename?: string; file_id?: string };
}
/** What an assistant refused earlier; sent back in history, read as the text it said. */
export interface RefusalPart {
  type: 'refusal';
  refusal: string;
}
/** A content part as validated by `IsMessageContent`: nothing else reaches the services. */
export type ContentPart = TextPart | ImageUrlPart | FilePart | RefusalPart;
/** The parts whose bytes are decoded or fetched, then uploaded to the upstream. */
export type AttachmentPart = ImageUrlPart | FilePart;

export const CONTENT_PART_TYPES = ['text', 'image_url', 'file'] as const;
const IMAGE_DETAILS: readonly string[] = ['auto', 'low', 'high'] satisfies ImageDetail[];

export function isAttachmentPart(part: ContentPart): part is AttachmentPart {
  return part.type === 'image_url' || part.type === 'file';
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A field that must be a string when present (or always, when `required`). */
function stringField(owner: Record<string, unknown>, field: string, path: string, required = false): ValidationDetail | null {
  const value = owner[field];
  if (value === undefined || value === null) return required ? { path: `${path}.${field}`, message: 'is required', missing: true } : null;
  return typeof value === 'string' ? null : { path: `${path}.${field}`, message: 'must be a string' };
}

/** A field that must be an object (or always, when `required`). */
function objectField(owner: Record<string, unknown>, field: string, path: string, required = false): ValidationDetail | null {
  const value = owner[field];
  if (value === undefined || value === null) return required ? { path: `${path}.${field}`, message: 'is required', missing: true } : null;
  return isRecord(value) ? null : { path: `${path}.${field}`, message: 'must be an object' };
}

/**
 * The first problem in one content part, relative to the content (`[i]…`); null when the part is a
 * well-formed `ContentPart`. A `refusal` part is history an assistant said, so only assistant turns carry one.
 */
function contentPartProblem(part: unknown, index: number, role: unknown): ValidationDetail | null {
  const path = `[${index}]`;
  if (!isRecord(part)) return { path, message: 'must be a content part object with a `type`' };
  const typeProblem = stringField(part, 'type', path, true);
  if (typeProblem) return typeProblem;
  switch (part.type) {
    case 'text':
      return stringField(part, 'text', path, true);
    case 'image_url': {
      const problem = objectField(part, 'image_url', path, true);
      if (problem) return problem;
      const image = part.image_url as Record<string, unknown>;
      const url = stringField(image, 'url', `${path}.image_url`, true);
      if (url) return url;
      if (!image.url) return { path: `${path}.image_url.url`, message: 'must not be empty' };
      if (image.detail !== undefined && !IMAGE_DETAILS.includes(image.detail as string)) {
        return { path: `${path}.image_url.detail`, message: `must be one of ${IMAGE_DETAILS.join(', ')}` };
      }
      return stringField(image, 'filename', `${path}.image_url`);
    }
    case 'file': {
      const problem = objectField(part, 'file', path, true);
      if (problem) return problem;
      const file = part.file as Record<string, unknown>;
      // Either the bytes inline, or the id of a file uploaded to `/v1/files` (read when the request runs).
      if ((file.file_data === undefined || file.file_data === null) && file.file_id !== undefined && file.file_id !== null) {
        const idProblem = stringField(file, 'file_id', `${path}.file`, true);
        if (idProblem) return idProblem;
        if (!file.file_id) return { path: `${path}.file.file_id`, message: 'must not be empty' };
        return stringField(file, 'filename', `${path}.file`);
      }
      return (
        stringField(file, 'file_data', `${path}.file`, true) ??
        stringField(file, 'filename', `${path}.file`) ??
        stringField(file, 'file_id', `${path}.file`)
      );
    }
    case 'refusal':
      return role === 'assistant' ? stringField(part, 'refusal', path, true) : unsupportedPart(part.type, path);
    default:
      return unsupportedPart(part.type, path);
  }
}

function unsupportedPart(type: unknown, path: string): ValidationDetail {
  return {
    path: `${path}.type`,
    message: `unsupported content part type '${String(type).slice(0, 40)}' (supported: ${CONTENT_PART_TYPES.join(', ')})`,
    code: 'unsupported_content_part',
  };
}

/** The first malformed part of an array content of a `role` turn; null for other shapes (judged as a whole). */
export function contentProblem(value: unknown, role?: unknown): ValidationDetail | null {
  if (!Array.isArray(value)) return null;
  for (const [index, part] of value.entries()) {
    const problem = contentPartProblem(part, index, role);
    if (problem) return problem;
  }
  return null;
}

/** The one check that turns a request's `content` array into typed parts: true when every part is a well-formed `ContentPart`. */
export function isContentParts(value: unknown, role?: unknown): value is ContentPart[] {
  return Array.isArray(value) && contentProblem(value, role) === null;
}

/** The first malformed entry of `tool_calls`, relative to it. */
export function toolCallsProblem(value: unknown): ValidationDetail | null {
  if (!Array.isArray(value)) return { path: '', message: 'must be an array' };
  for (const [index, call] of value.entries()) {
    const path = `[${index}]`;
    if (!isRecord(call)) return { path, message: 'must be a tool call object' };
    const problem = stringField(call, 'id', path) ?? stringField(call, 'type', path, true) ?? objectField(call, 'function', path, true);
    if (problem) return problem;
    if (call.type !== 'function') return { path: `${path}.type`, message: "must be 'function'" };
    const fn = call.function as Record<string, unknown>;
    const fnProblem = stringField(fn, 'name', `${path}.function`, true) ?? stringField(fn, 'arguments', `${path}.function`, true);
    if (fnProblem) return fnProblem;
  }
  return null;
}

/** An assistant turn's deprecated `function_call` in the history: a `name` and its `arguments`, both strings. */
export function functionCallProblem(value: unknown): ValidationDetail | null {
  if (!isRecord(value)) return { path: '', message: 'must be an object with a `name` and its `arguments`' };
  return stringField(value, 'name', '', true) ?? stringField(value, 'arguments', '', true);
}

function IsFunctionCallMessage(options?: ValidationOptions): PropertyDecorator {
  return ValidatedBy('isFunctionCallMessage', functionCallProblem, 'must be an object with a `name` and its `arguments`', options);
}

/**
 * `content` is a string, an array of well-formed parts (text, image_url or file, each with fields of the
 * right type, and refusal in assistant turns), or null (assistant turns with tool calls). Checked whole here, so that nothing the request
 * carries can fail later, after an account and a proof of work were spent on it.
 */
function IsMessageContent(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isMessageContent',
      validator: {
        validate: (value: unknown, args) => {
          const role = roleOf(args?.object);
          if (value === null) return role === 'assistant';
          if (typeof value === 'string') return true;
          return isContentParts(value, role) && (value.length > 0 || role === 'assistant');
        },
        defaultMessage: () => 'must be a string or a non-empty array of content parts with a `type` (null only for assistant messages)',
      },
    },
    { ...options, context: { detail: ((value, object) => contentProblem(value, roleOf(object))) satisfies ValidationDetailFn } },
  );
}

function roleOf(message: unknown): unknown {
  return isRecord(message) ? message.role : undefined;
}

/**
 * `tool_calls` of an assistant turn: objects with `type` 'function' and a `function` whose `name` and `arguments` are
 * strings (`id` a string when given), as OpenAI requires; the history is rendered and counted from them.
 */
function IsToolCalls(options?: ValidationOptions): PropertyDecorator {
  return ValidatedBy('isToolCalls', toolCallsProblem, 'must be an array of tool call objects', options);
}

/** `stop`: a string or an array of at most `MAX_STOP_SEQUENCES` strings, refused over it as OpenAI refuses it. */
function stopProblem(value: unknown): ValidationDetail | null {
  if (typeof value === 'string') return null;
  if (!Array.isArray(value)) return { path: '', message: `must be a string or an array of up to ${MAX_STOP_SEQUENCES} strings` };
  if (value.length > MAX_STOP_SEQUENCES) {
    return {
      path: '',
      message: `array too long. Expected an array with maximum length ${MAX_STOP_SEQUENCES}, but got an array with length ${value.length} instead`,
      code: 'array_above_max_length',
    };
  }
  const index = value.findIndex((item) => typeof item !== 'string');
  return index < 0 ? null : { path: `[${index}]`, message: 'must be a string' };
}

function IsStopSequences(options?: ValidationOptions): PropertyDecorator {
  return ValidatedBy('isStopSequences', stopProblem, `must be a string or an array of up to ${MAX_STOP_SEQUENCES} strings`, options);
}

export class ChatMessageDto {
  @IsIn(MESSAGE_ROLES, { message: `must be one of ${MESSAGE_ROLES.join(', ')}` })
  role: MessageRole;

  @IsMessageContent()
  content: string | ContentPart[] | null;

  /** Required on a (deprecated) `function` result: the function it answers. */
  @ValidateIf((message: ChatMessageDto) => message.role === 'function' || (message.name !== undefined && message.name !== null))
  @IsString()
  name?: string;

  @IsOptional() @IsToolCalls() @Type(() => ToolCallDto) tool_calls?: ToolCallDto[];
  /** Required on a `tool` result, as OpenAI requires: the call it answers. */
  @ValidateIf((message: ChatMessageDto) => message.role === 'tool' || (message.tool_call_id !== undefined && message.tool_call_id !== null))
  @IsString()
  tool_call_id?: string;
  /** The deprecated form of an assistant turn's one tool call. */
  @IsOptional() @IsFunctionCallMessage() function_call?: { name: string; arguments: string };
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

  @IsArray()
  @ArrayNotEmpty()
  @IsObjectItems('a message object')
  @ValidateNested({ each: true })
  @Type(() => ChatMessageDto)
  messages: ChatMessageDto[];

  @IsOptional() @IsBoolean() stream?: boolean;
  @IsOptional() @IsObject() @ValidateNested() @Type(() => StreamOptionsDto) stream_options?: StreamOptionsDto;
  @IsOptional() @IsInt() @Min(1) max_tokens?: number;
  @IsOptional() @IsInt() @Min(1) max_completion_tokens?: number;
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1, { message: 'must be 1: one answer per upstream conversation (n > 1 is not supported)' })
  n?: number;

  @IsOptional() @IsString() conversation_id?: string;
  @IsOptional() @IsString() parent_message_id?: string;
  @IsOptional() @IsBoolean() history_disabled?: boolean;
  @IsOptional()
  @IsString()
  @Matches(TEAM_ACCOUNT_ID, { message: 'must be a workspace id (letters, digits, - and _)' })
  'Chatgpt-Account-Id'?: string;

  @IsOptional() @IsNumber() temperature?: number;
  @IsOptional() @IsNumber() top_p?: number;
  @IsOptional() @IsNumber() presence_penalty?: number;
  @IsOptional() @IsNumber() frequency_penalty?: number;
  @IsOptional() @IsString() user?: string;
  /** Cut the answer before the first of these strings (src/chat/stop-sequences.ts); null or absent: no cut. */
  @IsOptional() @IsStopSequences() stop?: string | string[] | null;

  // Function calling and structured output, emulated in src/chat/tools and src/chat/structured-output.
  @IsOptional()
  @IsArray()
  @IsNotEmptyArray()
  @IsObjectItems('a tool object')
  @ValidateNested({ each: true })
  @Type(() => ToolDto)
  tools?: ToolDto[];
  @IsOptional() @IsToolChoice() tool_choice?: ToolChoice;
  @IsOptional() @IsBoolean() parallel_tool_calls?: boolean;
  @IsOptional() @IsObject() @ValidateNested() @Type(() => ResponseFormatDto) response_format?: ResponseFormatDto;

  // The deprecated form of tools and tool_choice (src/chat/tools/legacy-functions.ts); the answer comes in that form too.
  @IsOptional()
  @IsArray()
  @IsNotEmptyArray()
  @IsNotWithTools()
  @IsObjectItems('a function object')
  @ValidateNested({ each: true })
  @Type(() => FunctionDefinitionDto)
  functions?: FunctionDefinitionDto[];

  @IsOptional() @IsFunctionCallChoice() function_call?: FunctionCallChoice;
}
