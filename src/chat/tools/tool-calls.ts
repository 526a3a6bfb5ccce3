import { type AnswerContract, type AnswerReader, type EmittedToolCall, type Verdict, withSystemText } from '../answer-contract';
import { toolCallId } from '../completion-ids';
import type { ChatMessageDto } from '../dto/chat-completion.dto';
import { extractJson } from '../structured-output/json-extraction';
import { schemaErrors } from '../structured-output/json-schema';
import { judgeJsonAnswer, JsonFormat, renderJsonInstructions } from '../structured-output/structured-output';
import { ToolCallScanner, type ScannedAnswer } from './tool-call.scanner';
import { CALLS_OPEN, renderToolHistory, renderToolInstructions, type ToolSetup } from './tool-convention';

/**
 * Emulated function calling: the tools go in as system text, earlier calls and results are rendered in the
 * convention, and each answer is scanned for a calls block whose calls are checked against the tools.
 * `json` adds a JSON answer format for turns that do not call a function.
 */
export function toolCallingContract(messages: ChatMessageDto[], setup: ToolSetup, json: JsonFormat | null = null): AnswerContract {
  let system = renderToolInstructions(setup);
  if (json) system += `\n\n${renderJsonInstructions(json)}\nThis format applies when you answer without calling a function.`;
  return {
    messages: withSystemText(renderToolHistory(messages), system),
    plainText: false,
    reader: (round): AnswerReader => {
      // A required call or a JSON answer is judged whole; a corrective round only repairs, so nothing streams early.
      const scanner = new ToolCallScanner(round > 0 || mustCall(setup) || json !== null);
      return { push: (text) => scanner.push(text), end: () => judgeToolAnswer(scanner.end(), setup, json) };
    },
  };
}

function mustCall(setup: ToolSetup): boolean {
  return setup.choice === 'required' || typeof setup.choice === 'object';
}

/** The verdict on one scanned answer: its calls with fresh ids, or what is wrong and how to ask for a repair. */
export function judgeToolAnswer(answer: ScannedAnswer, setup: ToolSetup, json: JsonFormat | null = null): Verdict {
  if (answer.block === null) {
    if (mustCall(setup)) {
      const which = typeof setup.choice === 'object' ? `the function "${setup.choice.function.name}"` : 'a function';
      return {
        ok: false,
        problem: `The model answered without calling ${which}, which tool_choice requires.`,
        correction: `You must call ${which} now. Answer with only a ${CALLS_OPEN} block, nothing else.`,
        code: 'missing_tool_call',
        cut: answer.unreleased,
      };
    }
    return json ? judgeJsonAnswer(answer.before, json) : { ok: true, content: answer.unreleased, toolCalls: [] };
  }
  const calls = readCalls(answer.block, setup);
  if (typeof calls === 'string') {
    return {
      ok: false,
      problem: `The model's function call is unusable: ${calls}.`,
      correction: `Your function call cannot be used: ${calls}. Answer again with only the corrected ${CALLS_OPEN} block (valid JSON, arguments matching the function's schema), nothing else.`,
      code: 'invalid_tool_call',
      // The block is protocol text: a call cut short is not shown, the text before it is.
      cut: answer.unreleased,
    };
  }
  return { ok: true, content: answer.unreleased, toolCalls: setup.parallel ? calls : calls.slice(0, 1) };
}

/** Parses and checks the calls of a block; a string says what is wrong. */
function readCalls(block: string, setup: ToolSetup): EmittedToolCall[] | string {
  const parsed = extractJson(block);
  if (!parsed.ok) return `the ${CALLS_OPEN} block is not valid JSON (${parsed.reason})`;
  const items = Array.isArray(parsed.value) ? parsed.value : [parsed.value];
  if (items.length === 0) return `the ${CALLS_OPEN} block holds no call`;
  const calls: EmittedToolCall[] = [];
  for (const [index, item] of items.entries()) {
    const call = readCall(item, setup);
    if (typeof call === 'string') return `call ${index + 1}: ${call}`;
    calls.push(call);
  }
  return calls;
}

function readCall(item: unknown, setup: ToolSetup): EmittedToolCall | string {
  if (typeof item !== 'object' || item === null) return 'is not an object with "name" and "arguments"';
  const record = item as { name?: unknown; arguments?: unknown; parameters?: unknown; function?: { name?: unknown; arguments?: unknown } };
  const name = record.name ?? record.function?.name;
  if (typeof name !== 'string') return 'has no "name"';
  const tool = setup.tools.find((candidate) => candidate.function.name === name);
  if (!tool) return `"${name}" is not one of the functions offered (${setup.tools.map((t) => t.function.name).join(', ')})`;
  if (typeof setup.choice === 'object' && setup.choice.function.name !== name)
    return `"${name}" was called, but the function "${setup.choice.function.name}" is required`;
  let args: unknown = record.arguments ?? record.parameters ?? record.function?.arguments ?? {};
  if (typeof args === 'string') {
    try {
      args = JSON.parse(args) as unknown;
    } catch (error) {
      return `the arguments of "${name}" are not valid JSON (${(error as Error).message})`;
    }
  }
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return `the arguments of "${name}" are not a JSON object`;
  const schema = tool.function.parameters;
  const problems = schema ? schemaErrors(schema, args) : null;
  if (problems) return `the arguments of "${name}" do not match its schema: ${problems}`;
  return { id: toolCallId(), name, arguments: JSON.stringify(args) };
}
