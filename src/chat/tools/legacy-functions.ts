import type { ChatCompletionRequestDto, ChatMessageDto } from '../dto/chat-completion.dto';
import type { FunctionCallChoice, ToolChoice } from '../dto/tool-fields.dto';

/**
 * Whether a request offers functions the deprecated way (`functions`), so that its answer comes in that shape too:
 * `message.function_call` and finish_reason `function_call`, one call per answer.
 */
export function usesLegacyFunctions(request: ChatCompletionRequestDto): boolean {
  // null, as OpenAI reads it, is no functions.
  return request.functions !== undefined && request.functions !== null;
}

/**
 * The request with OpenAI's deprecated function fields in their tools form, which the rest of the pipeline reads:
 * `functions` as tools (one call per answer, all the legacy shape holds), `function_call` as tool_choice, and in
 * the history an assistant turn's `function_call` as its tool call (results of `role: "function"` are labelled by
 * their `name` already). Content parts are kept as they are: their attachments are looked up by identity.
 */
export function withLegacyFunctionsAsTools(request: ChatCompletionRequestDto): ChatCompletionRequestDto {
  const messages = request.messages.some((message) => message.role === 'assistant' && message.function_call)
    ? request.messages.map(historyAsTools)
    : request.messages;
  if (!usesLegacyFunctions(request)) return messages === request.messages ? request : { ...request, messages };
  return {
    ...request,
    messages,
    tools: request.functions!.map((fn) => ({ type: 'function', function: fn })),
    tool_choice: toolChoiceOf(request.function_call),
    parallel_tool_calls: false,
  };
}

function historyAsTools(message: ChatMessageDto): ChatMessageDto {
  if (message.role !== 'assistant' || !message.function_call) return message;
  const { function_call: call, ...rest } = message;
  return {
    ...rest,
    tool_calls: [...(message.tool_calls ?? []), { type: 'function', function: { name: call.name, arguments: call.arguments } }],
  };
}

function toolChoiceOf(choice: FunctionCallChoice | null | undefined): ToolChoice | undefined {
  if (choice === null || choice === undefined) return undefined;
  if (typeof choice === 'object') return { type: 'function', function: { name: choice.name } };
  return choice;
}
