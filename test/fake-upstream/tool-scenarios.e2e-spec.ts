import { renderToolInstructions } from '../../src/chat/tools/tool-convention';
import { resolveScenario } from './scenarios';
import { jsonResponder, offeredTools, toolResponder } from './tool-scenarios';

/** Upstream messages as FlowGPT sends them: author role and text parts. */
const upstream = (role: string, text: string) => ({ author: { role }, content: { content_type: 'text', parts: [text] } });

const system = renderToolInstructions({
  tools: [
    {
      type: 'function',
      function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
    },
  ],
  choice: 'auto',
  parallel: true,
});

describe('fake upstream: tool and JSON responders', () => {
  it('reads the offered tools from the system text', () => {
    expect(offeredTools([{ role: 'system', text: system }]).map((tool) => tool.name)).toEqual(['get_weather']);
  });

  it('calls a tool the prompt mentions, with sample arguments from its schema', () => {
    const scenario = resolveScenario(toolResponder(), [upstream('system', system), upstream('user', 'use get_weather please')]);
    expect(scenario).toMatchObject({
      kind: 'text',
      text: expect.stringContaining('<tool_calls>\n[{"name": "get_weather", "arguments": {"city":"Paris"}}]\n</tool_calls>'),
    });
  });

  it('sends scripted arguments verbatim and the fixed ones after a correction', () => {
    const prompt = 'call get_weather {"city": Oslo}\nfixed get_weather {"city": "Oslo"}';
    const first = resolveScenario(toolResponder(), [upstream('system', system), upstream('user', prompt)]);
    expect(first).toMatchObject({ text: expect.stringContaining('"arguments": {"city": Oslo}') });
    const second = resolveScenario(toolResponder(), [
      upstream('system', system),
      upstream('user', prompt),
      upstream('assistant', 'broken'),
      upstream('user', 'Your function call cannot be used: x'),
    ]);
    expect(second).toMatchObject({ text: expect.stringContaining('"arguments": {"city": "Oslo"}') });
  });

  it('answers tool results with text, and says so when no tools were offered', () => {
    const results = resolveScenario(toolResponder(), [
      upstream('system', system),
      upstream('user', '<tool_result call_id="c" name="get_weather">\nrain\n</tool_result>'),
    ]);
    expect(results).toEqual({ kind: 'text', text: 'The tools answered: rain.' });
    expect(resolveScenario(toolResponder(), [upstream('user', 'get_weather')])).toEqual({ kind: 'text', text: 'No tools were offered.' });
  });

  it('answers the JSON instruction with a sample of the schema', () => {
    const format =
      '# Answer format\nAnswer with a single JSON object.\nThe object must be valid against this JSON schema ("p"):\n{\n  "type": "object",\n  "properties": {\n    "n": {\n      "type": "integer"\n    }\n  }\n}';
    expect(resolveScenario(jsonResponder({ fenced: true }), [upstream('system', format), upstream('user', 'x')])).toMatchObject({
      text: '```json\n{"n":21}\n```',
    });
  });
});
