import { Type } from 'class-transformer';
import {
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Min,
  ValidateBy,
  ValidateIf,
  ValidateNested,
  ValidationOptions,
} from 'class-validator';
import { IsObjectItems } from '../../common/pipes/validation';
import { FunctionDefinitionDto, FUNCTION_NAME, IsJsonSchema } from '../../chat/dto/tool-fields.dto';

/** A function tool in the Responses API's flat shape: `{type: "function", name, description, parameters, strict}`. */
export class ResponseFunctionToolDto extends FunctionDefinitionDto {
  @IsIn(['function'], { message: "must be 'function' (the only tool type this server emulates)" }) type: 'function';
}

export type ResponseToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; name: string };

/** `tool_choice`: a mode, or `{type: "function", name}` naming one of `tools`; anything but `auto`/`none` needs tools. */
function IsResponseToolChoice(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isToolChoice',
      validator: {
        validate: (value: unknown, args) => {
          if (value === 'auto' || value === 'none') return true;
          const tools = (args?.object as { tools?: { name?: unknown }[] } | undefined)?.tools;
          const names = Array.isArray(tools) ? tools.map((tool) => tool?.name) : [];
          if (value === 'required') return names.length > 0;
          const choice = value as { type?: unknown; name?: unknown } | null;
          return (
            typeof choice === 'object' &&
            choice !== null &&
            choice.type === 'function' &&
            typeof choice.name === 'string' &&
            names.includes(choice.name)
          );
        },
        defaultMessage: () => 'must be \'auto\', \'none\', \'required\' or {"type":"function","name":…} naming one of `tools`',
      },
    },
    options,
  );
}

/** `input`: a string, or a non-empty list of input items (each item is checked when it is converted). */
function IsResponseInput(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isResponseInput',
      validator: {
        validate: (value: unknown) =>
          typeof value === 'string' ||
          (Array.isArray(value) &&
            value.length > 0 &&
            value.every((item) => typeof item === 'object' && item !== null && !Array.isArray(item))),
        defaultMessage: () => 'must be a string or a non-empty array of input items',
      },
    },
    options,
  );
}

/** `metadata`: at most 16 string values (OpenAI's limits: keys up to 64 characters, values up to 512). */
function IsMetadata(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isMetadata',
      validator: {
        validate: (value: unknown) => {
          if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
          const entries = Object.entries(value);
          return entries.length <= 16 && entries.every(([key, text]) => key.length <= 64 && typeof text === 'string' && text.length <= 512);
        },
        defaultMessage: () => 'must be an object of at most 16 string values (keys up to 64 characters, values up to 512)',
      },
    },
    options,
  );
}

export class ResponseTextFormatDto {
  @IsIn(['text', 'json_object', 'json_schema'], { message: "must be 'text', 'json_object' or 'json_schema'" }) type:
    'text' | 'json_object' | 'json_schema';

  @ValidateIf((format: ResponseTextFormatDto) => format.type === 'json_schema' || format.name !== undefined)
  @IsString()
  @Matches(FUNCTION_NAME, { message: 'must be 1 to 64 letters, digits, underscores or dashes' })
  name?: string;

  @IsOptional() @IsString() description?: string;
  @ValidateIf((format: ResponseTextFormatDto) => format.type === 'json_schema' || format.schema !== undefined)
  @IsJsonSchema()
  schema?: Record<string, unknown>;
  @IsOptional() @IsBoolean() strict?: boolean | null;
}

export class ResponseTextDto {
  @IsOptional() @IsObject() @ValidateNested() @Type(() => ResponseTextFormatDto) format?: ResponseTextFormatDto;
  @IsOptional() @IsIn(['low', 'medium', 'high']) verbosity?: string;
}

export class ResponseReasoningDto {
  @IsOptional() @IsIn(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']) effort?: string | null;
  @IsOptional() @IsIn(['auto', 'concise', 'detailed']) summary?: string | null;
}

/**
 * The fields of OpenAI's `POST /v1/responses` that we read or must type-check. Sampling options are accepted
 * and ignored, as for chat completions; unknown fields are ignored.
 */
export class CreateResponseDto {
  @IsOptional() @IsString() model?: string;
  @IsResponseInput() input: string | Record<string, unknown>[];
  @IsOptional() @IsString() instructions?: string | null;

  @IsOptional()
  @IsArray()
  @IsObjectItems('a tool object')
  @ValidateNested({ each: true })
  @Type(() => ResponseFunctionToolDto)
  tools?: ResponseFunctionToolDto[];
  @IsOptional() @IsResponseToolChoice() tool_choice?: ResponseToolChoice;
  @IsOptional() @IsBoolean() parallel_tool_calls?: boolean | null;
  @IsOptional() @IsObject() @ValidateNested() @Type(() => ResponseTextDto) text?: ResponseTextDto;

  @IsOptional() @IsInt() @Min(1) max_output_tokens?: number | null;
  @IsOptional() @IsNumber() temperature?: number | null;
  @IsOptional() @IsNumber() top_p?: number | null;
  @IsOptional() @IsObject() @ValidateNested() @Type(() => ResponseReasoningDto) reasoning?: ResponseReasoningDto | null;

  @IsOptional() @IsBoolean() store?: boolean | null;
  @IsOptional() @IsMetadata() metadata?: Record<string, string> | null;
  @IsOptional() @IsString() previous_response_id?: string | null;
  @IsOptional() @IsBoolean() stream?: boolean | null;
  @IsOptional() @IsIn([false], { message: 'must be false: background responses are not supported' }) background?: boolean | null;
  @IsOptional() @IsString() user?: string;
}
