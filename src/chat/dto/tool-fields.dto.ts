import { Type } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  ValidateBy,
  ValidateIf,
  ValidateNested,
  ValidationOptions,
} from 'class-validator';
import { schemaProblem } from '../structured-output/json-schema';

/** OpenAI's rule for function and schema names. */
export const FUNCTION_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const NAME_MESSAGE = 'must be 1 to 64 letters, digits, underscores or dashes';

/** A usable JSON schema (compiled with Ajv, so a broken one is refused before any upstream work). */
export function IsJsonSchema(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isJsonSchema',
      validator: {
        validate: (value: unknown) => schemaProblem(value) === null,
        defaultMessage: (args) => schemaProblem(args?.value) ?? 'must be a JSON schema object',
      },
    },
    options,
  );
}

export class FunctionDefinitionDto {
  @IsString() @Matches(FUNCTION_NAME, { message: NAME_MESSAGE }) name: string;
  @IsOptional() @IsString() description?: string;
  @IsOptional() @IsJsonSchema() parameters?: Record<string, unknown>;
  @IsOptional() @IsBoolean() strict?: boolean | null;
}

export class ToolDto {
  @IsIn(['function'], { message: "must be 'function' (the only tool type this server emulates)" }) type: 'function';
  @IsObject() @ValidateNested() @Type(() => FunctionDefinitionDto) function: FunctionDefinitionDto;
}

export type ToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

const TOOL_CHOICE_MESSAGE = 'must be \'auto\', \'none\', \'required\' or {"type":"function","function":{"name":…}} naming one of `tools`';

/** `tool_choice`: a mode, or a function that must be among `tools`; anything but `auto`/`none` needs tools. */
export function IsToolChoice(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isToolChoice',
      validator: {
        validate: (value: unknown, args) => {
          const tools = (args?.object as { tools?: { function?: { name?: unknown } }[] } | undefined)?.tools;
          if (value === 'auto' || value === 'none') return true;
          const names = Array.isArray(tools) ? tools.map((tool) => tool?.function?.name) : [];
          if (value === 'required') return names.length > 0;
          if (typeof value !== 'object' || value === null) return false;
          const choice = value as { type?: unknown; function?: { name?: unknown } };
          return choice.type === 'function' && typeof choice.function?.name === 'string' && names.includes(choice.function.name);
        },
        defaultMessage: () => TOOL_CHOICE_MESSAGE,
      },
    },
    options,
  );
}

/** The deprecated `function_call` of a request: 'none', 'auto' or `{"name"}` naming one of `functions`. */
export type FunctionCallChoice = 'none' | 'auto' | { name: string };

export function IsFunctionCallChoice(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isFunctionCallChoice',
      validator: {
        validate: (value: unknown, args) => {
          if (value === 'auto' || value === 'none') return true;
          const functions = (args?.object as { functions?: { name?: unknown }[] } | undefined)?.functions;
          const names = Array.isArray(functions) ? functions.map((fn) => fn?.name) : [];
          const name = typeof value === 'object' && value !== null ? (value as { name?: unknown }).name : undefined;
          return typeof name === 'string' && names.includes(name);
        },
        defaultMessage: () => "must be 'auto', 'none' or {\"name\":…} naming one of `functions`",
      },
    },
    options,
  );
}

/**
 * The deprecated `functions` are the tools of a request that does not give `tools`: the two do not mix. `tools: null`
 * gives none (OpenAI reads null as absent, and clients that serialise every field send it so).
 */
export function IsNotWithTools(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isNotWithTools',
      validator: {
        validate: (_value: unknown, args) => ((args?.object as { tools?: unknown } | undefined)?.tools ?? null) === null,
        defaultMessage: () => 'cannot be given together with `tools` (functions is the deprecated form of tools: send one of them)',
      },
    },
    options,
  );
}

export class ToolCallFunctionDto {
  @IsString() name: string;
  @IsString() arguments: string;
}

/** An assistant turn's earlier tool call, sent back in the history. */
export class ToolCallDto {
  /** Required by OpenAI, but a history converted from the deprecated `function_call` has none. */
  @IsOptional() @IsString() id?: string;
  @IsIn(['function'], { message: "must be 'function'" }) type: 'function';
  @IsObject() @ValidateNested() @Type(() => ToolCallFunctionDto) function: ToolCallFunctionDto;
}

export class JsonSchemaFormatDto {
  @IsString() @Matches(FUNCTION_NAME, { message: NAME_MESSAGE }) name: string;
  @IsOptional() @IsString() description?: string;
  @IsOptional() @IsJsonSchema() schema?: Record<string, unknown>;
  @IsOptional() @IsBoolean() strict?: boolean | null;
}

export class ResponseFormatDto {
  @IsIn(['text', 'json_object', 'json_schema'], { message: "must be 'text', 'json_object' or 'json_schema'" }) type:
    'text' | 'json_object' | 'json_schema';

  @ValidateIf((format: ResponseFormatDto) => format.type === 'json_schema' || format.json_schema !== undefined)
  @IsObject()
  @ValidateNested()
  @Type(() => JsonSchemaFormatDto)
  json_schema?: JsonSchemaFormatDto;
}
