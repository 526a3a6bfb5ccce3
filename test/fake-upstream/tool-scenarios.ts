import type { ReceivedMessage, Scenario } from './scenarios';

/**
 * Responders that play a model following FlowGPT's emulated function calling and JSON-output instructions.
 * They read the system text they received, so a test also proves the instructions reached the upstream.
 *
 * Tool responder, by the last user message:
 * - a tool result (`<tool_result …>`): a text answer quoting every result of that turn;
 * - a corrective request (after an unusable call): the prompt's `fixed NAME ARGS` lines as the call, else
 *   a call of the first offered tool with sample arguments;
 * - `call NAME ARGS` lines (ARGS copied verbatim, so broken JSON can be scripted): those calls, after the
 *   text of a `say TEXT` line when there is one; `fenced` wraps the block in a code fence;
 * - a prompt that mentions an offered tool by name: a call of it with sample arguments from its schema;
 * - anything else, or no tools offered: plain text (`No tools were offered.` in the latter case).
 */
export function toolResponder(): Scenario {
  return { kind: 'respond', respond: answerAsToolUser };
}

/** Answers the JSON-output instruction: the schema's sample object (fenced in ```json when `fenced`). */
export function jsonResponder(options: { fenced?: boolean } = {}): Scenario {
  return {
    kind: 'respond',
    respond: (messages) => {
      const system = systemText(messages);
      if (!system.includes('# Answer format')) return { kind: 'text', text: 'Nobody asked me for JSON.' };
      const schema = jsonAfter(system, /valid against this JSON schema[^\n]*:\n/) as Record<string, unknown> | null;
      const body = JSON.stringify(schema ? sampleOf(schema) : { answer: 'ok' });
      return { kind: 'text', text: options.fenced ? `\`\`\`json\n${body}\n\`\`\`` : body, chunks: 4 };
    },
  };
}

/** The tool definitions a conversation request offered, as written in the system text (empty when none). */
export function offeredTools(messages: ReceivedMessage[]): { name: string; parameters?: Record<string, unknown> }[] {
  const system = systemText(messages);
  if (!system.includes('# Tools')) return [];
  return (jsonAfter(system, /definitions[^\n]*:\n/) as { name: string; parameters?: Record<string, unknown> }[] | null) ?? [];
}

function answerAsToolUser(messages: ReceivedMessage[]): Scenario {
  const tools = offeredTools(messages);
  if (tools.length === 0) return { kind: 'text', text: 'No tools were offered.' };
  const last = messages[messages.length - 1];
  if (last.text.startsWith('<tool_result')) {
    const results = trailingResults(messages);
    return { kind: 'text', text: `The tools answered: ${results.join('; ')}.` };
  }
  const prompt = [...messages].reverse().find((m) => m.role === 'user' && !isCorrection(m.text))?.text ?? '';
  if (isCorrection(last.text)) {
    const fixed = directives(prompt, 'fixed');
    return callAnswer(fixed.length ? fixed : [{ name: tools[0].name, args: JSON.stringify(sampleOf(tools[0].parameters ?? {})) }]);
  }
  const calls = directives(prompt, 'call');
  if (calls.length) {
    const say = /^say (.*)$/m.exec(prompt)?.[1];
    return callAnswer(calls, say, /^fenced$/m.test(prompt));
  }
  const mentioned = tools.find((tool) => new RegExp(`\\b${tool.name}\\b`).test(prompt));
  if (mentioned) return callAnswer([{ name: mentioned.name, args: JSON.stringify(sampleOf(mentioned.parameters ?? {})) }]);
  return { kind: 'text', text: 'I can answer that without any tool.' };
}

function callAnswer(calls: { name: string; args: string }[], say?: string, fenced = false): Scenario {
  let block = `<tool_calls>\n[${calls.map((call) => `{"name": ${JSON.stringify(call.name)}, "arguments": ${call.args}}`).join(', ')}]\n</tool_calls>`;
  if (fenced) block = `\`\`\`xml\n${block}\n\`\`\``;
  // A careless model invents the result after the call; the proxy must drop it.
  return { kind: 'text', text: `${say ? `${say}\n` : ''}${block}\nThe weather is probably fine.`, chunks: 12 };
}

function isCorrection(text: string): boolean {
  return text.startsWith('Your function call cannot be used') || text.startsWith('You must call');
}

function directives(prompt: string, verb: 'call' | 'fixed'): { name: string; args: string }[] {
  return [...prompt.matchAll(new RegExp(`^${verb} (\\S+) (.*)$`, 'gm'))].map((m) => ({ name: m[1], args: m[2] }));
}

/** The results of the last run of tool-result messages. */
function trailingResults(messages: ReceivedMessage[]): string[] {
  const results: string[] = [];
  for (let i = messages.length - 1; i >= 0 && messages[i].text.startsWith('<tool_result'); i--) {
    const body = /^<tool_result[^>]*>\n([\s\S]*)\n<\/tool_result>$/.exec(messages[i].text)?.[1] ?? messages[i].text;
    results.unshift(body);
  }
  return results;
}

function systemText(messages: ReceivedMessage[]): string {
  return messages
    .filter((m) => m.role === 'system')
    .map((m) => m.text)
    .join('\n\n');
}

/** Parses the pretty-printed JSON that starts right after `marker` (it ends at the first line that closes it). */
function jsonAfter(text: string, marker: RegExp): unknown {
  const found = marker.exec(text);
  if (!found) return null;
  const rest = text.slice(found.index + found[0].length).split('\n');
  for (let end = 1; end <= rest.length; end++) {
    try {
      return JSON.parse(rest.slice(0, end).join('\n'));
    } catch {
      // not complete yet
    }
  }
  return null;
}

/** A value that satisfies simple schemas: required properties, enums, basic types. */
export function sampleOf(schema: Record<string, unknown>): unknown {
  if (Array.isArray(schema.enum)) return schema.enum[0];
  switch (schema.type) {
    case 'string':
      return 'Paris';
    case 'integer':
    case 'number':
      return 21;
    case 'boolean':
      return true;
    case 'array':
      return [sampleOf((schema.items as Record<string, unknown>) ?? { type: 'string' })];
    default: {
      const properties = (schema.properties as Record<string, Record<string, unknown>>) ?? {};
      return Object.fromEntries(Object.entries(properties).map(([key, property]) => [key, sampleOf(property)]));
    }
  }
}
