import type { ChatMessageDto, ContentPart } from '../dto/chat-completion.dto';
import type { ToolChoice, ToolDto } from '../dto/tool-fields.dto';

/**
 * The calling convention the model is taught, since the web backend has no native function calling:
 * a call is a JSON array of `{"name", "arguments"}` objects between these tags, on a line of its own.
 * Tags rather than a code fence, because fenced JSON is common in ordinary answers and tags are not.
 */
export const CALLS_OPEN = '<tool_calls>';
export const CALLS_CLOSE = '</tool_calls>';
export const RESULT_OPEN = '<tool_result';
export const RESULT_CLOSE = '</tool_result>';

export interface ToolSetup {
  tools: ToolDto[];
  choice: ToolChoice;
  parallel: boolean;
}

/** The system text that offers the tools and explains the convention. */
export function renderToolInstructions({ tools, choice, parallel }: ToolSetup): string {
  const definitions = tools.map(({ function: fn }) => ({
    name: fn.name,
    ...(fn.description ? { description: fn.description } : {}),
    parameters: fn.parameters ?? { type: 'object', properties: {} },
  }));
  const lines = [
    '# Tools',
    'You can call the following functions. Their definitions (name, description, JSON schema of the arguments):',
    JSON.stringify(definitions, null, 2),
    '',
    '## How to call a function',
    `To call functions, write on a line of its own the tag ${CALLS_OPEN}, then a JSON array with one object per call, each {"name": "<function name>", "arguments": {<arguments as a JSON object matching the schema>}}, then ${CALLS_CLOSE}. For example:`,
    CALLS_OPEN,
    `[{"name": "${definitions[0].name}", "arguments": {}}]`,
    CALLS_CLOSE,
    `Write nothing after ${CALLS_CLOSE}: stop there and wait. The results come back in the next message as ${RESULT_OPEN} call_id="…" name="…"> … ${RESULT_CLOSE} blocks; then continue, calling more functions or answering the user.`,
    'The arguments must be valid JSON (double quotes, no comments, no trailing commas) and must satisfy the schema. Never invent results yourself.',
    parallel
      ? 'You may call several functions at once (several objects in the array) when they do not depend on each other.'
      : 'Call at most one function per answer (one object in the array).',
    choiceRule(choice),
  ];
  return lines.join('\n');
}

function choiceRule(choice: ToolChoice): string {
  if (choice === 'required') return `You must call at least one function in this answer: answer with a ${CALLS_OPEN} block.`;
  if (typeof choice === 'object')
    return `You must call the function "${choice.function.name}" in this answer: answer with a ${CALLS_OPEN} block that calls it.`;
  return `Call a function only when it helps to answer; otherwise answer normally in plain text without any ${CALLS_OPEN} block.`;
}

/** Renders calls the way the model is asked to write them (also used for earlier calls in the history). */
export function renderToolCalls(calls: { id?: string; name: string; arguments: string }[]): string {
  const items = calls.map((call) => ({ ...(call.id ? { id: call.id } : {}), name: call.name, arguments: parseOrKeep(call.arguments) }));
  return `${CALLS_OPEN}\n${JSON.stringify(items)}\n${CALLS_CLOSE}`;
}

export function renderToolResult(callId: string | undefined, name: string | undefined, content: string): string {
  const attributes = [callId ? ` call_id=${JSON.stringify(callId)}` : '', name ? ` name=${JSON.stringify(name)}` : ''].join('');
  return `${RESULT_OPEN}${attributes}>\n${content}\n${RESULT_CLOSE}`;
}

/**
 * The client's history in the convention: assistant `tool_calls` become a calls block after the turn's text,
 * `tool` (and legacy `function`) results become user text in result blocks. Other messages, and their
 * content parts, are kept as they are (the attachments of a part are looked up by identity).
 */
export function renderToolHistory(messages: ChatMessageDto[]): ChatMessageDto[] {
  const namesById = new Map<string, string>();
  return messages.map((message) => {
    if (message.role === 'assistant' && message.tool_calls?.length) {
      for (const call of message.tool_calls) if (call.id) namesById.set(call.id, call.function.name);
      const text = plainText(message.content);
      const calls = renderToolCalls(
        message.tool_calls.map((call) => ({ id: call.id, name: call.function.name, arguments: call.function.arguments })),
      );
      return { role: 'assistant', content: text ? `${text}\n${calls}` : calls };
    }
    if (message.role === 'tool' || message.role === 'function') {
      const name =
        message.role === 'function'
          ? message.name
          : (message.name ?? (message.tool_call_id ? namesById.get(message.tool_call_id) : undefined));
      return { role: 'user', content: renderToolResult(message.tool_call_id, name, plainText(message.content)) };
    }
    return message;
  });
}

function plainText(content: string | ContentPart[] | null): string {
  if (content === null) return '';
  if (typeof content === 'string') return content;
  return content
    .map((part) => (part.type === 'text' ? part.text : part.type === 'refusal' ? part.refusal : ''))
    .filter(Boolean)
    .join('\n');
}

function parseOrKeep(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
