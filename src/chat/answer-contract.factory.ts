import { type AnswerContract, plainContract } from './answer-contract';
import type { ChatCompletionRequestDto, ChatMessageDto } from './dto/chat-completion.dto';
import { jsonFormatOf, structuredOutputContract } from './structured-output/structured-output';
import { toolCallingContract } from './tools/tool-calls';

/**
 * Picks what the answer must look like: emulated function calling when tools are offered (`tool_choice`
 * other than `none`), a JSON answer for `response_format` json_object/json_schema, otherwise plain text.
 */
export function answerContractFor(request: ChatCompletionRequestDto, messages: ChatMessageDto[]): AnswerContract {
  const json = jsonFormatOf(request.response_format);
  if (request.tools?.length && request.tool_choice !== 'none') {
    return toolCallingContract(
      messages,
      { tools: request.tools, choice: request.tool_choice ?? 'auto', parallel: request.parallel_tool_calls ?? true },
      json,
    );
  }
  if (json) return structuredOutputContract(messages, json);
  return plainContract(messages);
}
