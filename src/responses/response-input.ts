import { ApiError } from '../common/errors/api-error';
import type { AttachmentPart, ChatCompletionRequestDto, ChatMessageDto, ContentPart } from '../chat/dto/chat-completion.dto';
import type { ToolChoice } from '../chat/dto/tool-fields.dto';
import type { CreateResponseDto } from './dto/create-response.dto';

/** Where a continued response picks up the upstream conversation. */
export interface Continuation {
  conversationId: string;
  parentMessageId: string;
  /** The pool account holding the conversation (its id, never a token), when a pool key created it. */
  poolAccountId?: string;
}

const MESSAGE_ROLES = new Set(['user', 'assistant', 'system', 'developer']);
const CONTENT_PART_TYPES = ['input_text', 'input_image', 'input_file', 'output_text'];
const OUTPUT_PART_TYPES = ['input_text', 'output_text'];

/** Where each image or file part of the chat request came from in the Responses input (`input[0].content[1].image_url`). */
export type AttachmentParams = Map<AttachmentPart, string>;

/**
 * The chat pipeline's request for a Responses API request: `instructions` and `input` items as chat messages,
 * flat function tools in the chat shape, `text.format` as `response_format`. `callNames` names the function
 * calls of the previous response, so results sent back for them are labelled with their function.
 * `attachmentParams` is filled with the input field of every image and file part, so errors about it name that field.
 */
export function chatRequestFor(
  request: CreateResponseDto,
  continuation?: Continuation,
  callNames: ReadonlyMap<string, string> = new Map(),
  attachmentParams: AttachmentParams = new Map(),
): ChatCompletionRequestDto {
  const messages = inputMessages(request.input, callNames, attachmentParams);
  if (request.instructions) messages.unshift({ role: 'system', content: request.instructions });
  const format = request.text?.format;
  return {
    model: request.model,
    messages,
    stream: request.stream ?? false,
    max_completion_tokens: request.max_output_tokens ?? undefined,
    tools: request.tools?.map((tool) => ({
      type: 'function',
      function: { name: tool.name, description: tool.description, parameters: tool.parameters, strict: tool.strict },
    })),
    tool_choice: chatToolChoice(request.tool_choice),
    parallel_tool_calls: request.parallel_tool_calls ?? undefined,
    response_format:
      format && format.type !== 'text'
        ? {
            type: format.type,
            json_schema:
              format.type === 'json_schema'
                ? { name: format.name!, description: format.description, schema: format.schema, strict: format.strict }
                : undefined,
          }
        : undefined,
    conversation_id: continuation?.conversationId,
    parent_message_id: continuation?.parentMessageId,
  };
}

function chatToolChoice(choice: CreateResponseDto['tool_choice']): ToolChoice | undefined {
  if (typeof choice === 'object' && choice !== null) return { type: 'function', function: { name: choice.name } };
  return choice;
}

/**
 * Input items as chat messages: messages keep their role, consecutive `function_call` items become one
 * assistant turn with tool calls, and `function_call_output` items become tool results. Reasoning items sent
 * back from an earlier output carry nothing the upstream can use and are skipped.
 */
export function inputMessages(
  input: CreateResponseDto['input'],
  callNames: ReadonlyMap<string, string> = new Map(),
  attachmentParams: AttachmentParams = new Map(),
): ChatMessageDto[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  const names = new Map(callNames);
  const messages: ChatMessageDto[] = [];
  for (const [index, raw] of input.entries()) {
    const path = `input[${index}]`;
    const item = raw;
    const type = item.type ?? 'message';
    if (type === 'message') {
      messages.push(messageOf(item, path, attachmentParams));
    } else if (type === 'function_call') {
      const call = {
        id: text(item, 'call_id', path),
        type: 'function' as const,
        function: { name: text(item, 'name', path), arguments: text(item, 'arguments', path) },
      };
      names.set(call.id, call.function.name);
      const last = messages[messages.length - 1];
      if (last?.role === 'assistant') last.tool_calls = [...(last.tool_calls ?? []), call];
      else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
    } else if (type === 'function_call_output') {
      const callId = text(item, 'call_id', path);
      messages.push({ role: 'tool', tool_call_id: callId, name: names.get(callId), content: outputText(item.output, `${path}.output`) });
    } else if (type !== 'reasoning') {
      throw ApiError.invalidRequest(
        `Invalid value for '${path}.type': '${typeof type === 'string' ? type : JSON.stringify(type)}' is not supported (use message, function_call, function_call_output).`,
        'unsupported_input_item',
        `${path}.type`,
      );
    }
  }
  return messages;
}

function messageOf(item: Record<string, unknown>, path: string, attachmentParams: AttachmentParams): ChatMessageDto {
  const role = item.role;
  if (typeof role !== 'string' || !MESSAGE_ROLES.has(role)) {
    throw ApiError.invalidRequest(
      role === undefined
        ? `Missing required parameter: '${path}.role'.`
        : `Invalid value for '${path}.role': must be one of user, assistant, system, developer.`,
      role === undefined ? 'missing_required_parameter' : 'invalid_value',
      `${path}.role`,
    );
  }
  const content = item.content;
  if (typeof content === 'string') return { role, content } as ChatMessageDto;
  if (!Array.isArray(content) || content.length === 0) {
    throw ApiError.invalidRequest(
      `Invalid value for '${path}.content': must be a string or a non-empty array of content parts.`,
      'invalid_value',
      `${path}.content`,
    );
  }
  const parts = content.map((raw, index) => {
    const { part, param } = contentPart(raw, `${path}.content[${index}]`);
    if (param) attachmentParams.set(part as AttachmentPart, param);
    return part;
  });
  return { role, content: parts } as ChatMessageDto;
}

/** A Responses content part as the chat pipeline's part (text, `image_url`, `file`), with the field holding an attachment's data. */
function contentPart(raw: unknown, path: string): { part: ContentPart; param?: string } {
  const part = typedPart(raw, path, CONTENT_PART_TYPES);
  switch (part.type) {
    case 'input_text':
    case 'output_text':
      return { part: { type: 'text', text: text(part, 'text', path) } };
    case 'refusal':
      return { part: { type: 'text', text: text(part, 'refusal', path) } };
    case 'input_image': {
      // An image uploaded to /v1/files reaches the upstream as a file: the upload finds it is an image by its bytes.
      if ((typeof part.image_url !== 'string' || !part.image_url) && part.file_id !== undefined) return uploadReference(part, path);
      if (typeof part.image_url !== 'string' || !part.image_url)
        throw missingReference(path, 'image_url', 'an http(s) or data: URL, or file_id');
      const detail = part.detail === 'low' || part.detail === 'high' ? part.detail : 'auto';
      return { part: { type: 'image_url', image_url: { url: part.image_url, detail } }, param: `${path}.image_url` };
    }
    case 'input_file': {
      const filename = typeof part.filename === 'string' ? part.filename : undefined;
      if (typeof part.file_data === 'string' && part.file_data) {
        if (!part.file_data.startsWith('data:')) {
          throw ApiError.invalidRequest(
            `Invalid value for '${path}.file_data': must be a base64 data: URL (data:<mime type>;base64,…).`,
            'invalid_value',
            `${path}.file_data`,
          );
        }
        return { part: { type: 'file', file: { file_data: part.file_data, filename } }, param: `${path}.file_data` };
      }
      // A URL is fetched like an image URL; the file's type comes from the response's Content-Type, its name from `filename`.
      if (typeof part.file_url === 'string' && part.file_url) {
        return { part: { type: 'image_url', image_url: { url: part.file_url, filename } }, param: `${path}.file_url` };
      }
      if (part.file_id !== undefined) return uploadReference(part, path);
      throw missingReference(path, 'file_data', 'a base64 data: URL, file_url, or file_id');
    }
    default:
      throw ApiError.invalidRequest(
        `Invalid value for '${path}.type': '${String(part.type)}' is not supported (use ${CONTENT_PART_TYPES.join(', ')}).`,
        'unsupported_content',
        `${path}.type`,
      );
  }
}

/** A content part as an object with a `type`; `types` are those the field takes, named when the part is no object at all. */
function typedPart(raw: unknown, path: string, types: readonly string[]): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw ApiError.invalidRequest(
      `Invalid value for '${path}': must be a content part object with a \`type\` (${types.join(', ')}).`,
      'invalid_value',
      path,
    );
  }
  const part = raw as Record<string, unknown>;
  if (part.type === undefined)
    throw ApiError.invalidRequest(`Missing required parameter: '${path}.type'.`, 'missing_required_parameter', `${path}.type`);
  return part;
}

/** A part naming a file uploaded to `/v1/files` (`file_id`), read when the request runs. */
function uploadReference(part: Record<string, unknown>, path: string): { part: ContentPart; param: string } {
  if (typeof part.file_id !== 'string' || !part.file_id) {
    throw ApiError.invalidRequest(`Invalid value for '${path}.file_id': must be a non-empty string.`, 'invalid_value', `${path}.file_id`);
  }
  const filename = typeof part.filename === 'string' ? part.filename : undefined;
  return { part: { type: 'file', file: { file_id: part.file_id, filename } }, param: `${path}.file_id` };
}

function missingReference(path: string, field: string, expected: string): ApiError {
  return ApiError.invalidRequest(
    `Missing required parameter: '${path}.${field}' (${expected}).`,
    'missing_required_parameter',
    `${path}.${field}`,
  );
}

/** A function result: a string, or a list of text parts joined by newlines. */
function outputText(output: unknown, path: string): string {
  if (typeof output === 'string') return output;
  if (Array.isArray(output)) {
    return output
      .map((part, index) => {
        const record = typedPart(part, `${path}[${index}]`, OUTPUT_PART_TYPES);
        if (!OUTPUT_PART_TYPES.includes(record.type as string)) {
          throw ApiError.invalidRequest(
            `Invalid value for '${path}[${index}].type': a function result may only hold text parts.`,
            'unsupported_content',
            `${path}[${index}].type`,
          );
        }
        return text(record, 'text', `${path}[${index}]`);
      })
      .join('\n');
  }
  throw ApiError.invalidRequest(
    output === undefined
      ? `Missing required parameter: '${path}'.`
      : `Invalid value for '${path}': must be a string or an array of text parts.`,
    output === undefined ? 'missing_required_parameter' : 'invalid_value',
    path,
  );
}

function text(record: Record<string, unknown>, field: string, path: string): string {
  const value = record[field];
  if (typeof value === 'string') return value;
  throw ApiError.invalidRequest(
    value === undefined ? `Missing required parameter: '${path}.${field}'.` : `Invalid value for '${path}.${field}': must be a string.`,
    value === undefined ? 'missing_required_parameter' : 'invalid_value',
    `${path}.${field}`,
  );
}
