import type { ChatMessageDto } from '../dto/chat-completion.dto';
import type { ToolDto } from '../dto/tool-fields.dto';
import { ToolCallScanner } from './tool-call.scanner';
import { judgeToolAnswer, toolCallingContract } from './tool-calls';
import { renderToolCalls, renderToolHistory, renderToolInstructions, type ToolSetup } from './tool-convention';

const weather: ToolDto = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  },
};
const time: ToolDto = { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } };
const setup = (overrides: Partial<ToolSetup> = {}): ToolSetup => ({ tools: [weather, time], choice: 'auto', parallel: true, ...overrides });

function judge(text: string, toolSetup = setup()) {
  const scanner = new ToolCallScanner(true);
  scanner.push(text);
  return judgeToolAnswer(scanner.end(), toolSetup);
}

const block = (json: string) => `<tool_calls>\n${json}\n</tool_calls>`;

describe('tool convention: rendering', () => {
  it('offers the tools with their schemas and states the choice rule', () => {
    const auto = renderToolInstructions(setup());
    expect(auto).toContain('"name": "get_weather"');
    expect(auto).toContain('"required": [');
    expect(auto).toContain('<tool_calls>');
    expect(auto).toContain('several functions at once');
    expect(renderToolInstructions(setup({ choice: 'required', parallel: false }))).toMatch(
      /must call at least one function[\s\S]*|at most one function/,
    );
    expect(renderToolInstructions(setup({ choice: { type: 'function', function: { name: 'get_time' } } }))).toContain(
      'You must call the function "get_time"',
    );
  });

  it('renders calls in the same convention the parser reads back', () => {
    const text = renderToolCalls([{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }]);
    const verdict = judge(text);
    expect(verdict).toMatchObject({ ok: true, toolCalls: [{ name: 'get_weather', arguments: '{"city":"Paris"}' }] });
  });

  it('renders earlier calls and their results into the history, keeping other messages as they are', () => {
    const user = { role: 'user', content: [{ type: 'text', text: 'weather?' }] } as ChatMessageDto;
    const history = renderToolHistory([
      user,
      {
        role: 'assistant',
        content: 'Checking.',
        tool_calls: [{ id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_a', content: 'sunny' },
    ]);
    expect(history[0]).toBe(user);
    expect(history[1]).toEqual({
      role: 'assistant',
      content: 'Checking.\n<tool_calls>\n[{"id":"call_a","name":"get_weather","arguments":{"city":"Paris"}}]\n</tool_calls>',
    });
    expect(history[2]).toEqual({ role: 'user', content: '<tool_result call_id="call_a" name="get_weather">\nsunny\n</tool_result>' });
  });

  it('puts the instructions after the client system prompt', () => {
    const contract = toolCallingContract(
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hi' },
      ],
      setup(),
    );
    expect(contract.messages.map((m) => m.role)).toEqual(['system', 'system', 'user']);
    expect(contract.messages[1].content).toContain('# Tools');
  });
});

describe('tool convention: judging answers', () => {
  it('returns parallel calls with fresh call_ ids and JSON-string arguments', () => {
    const verdict = judge(
      `Sure.\n${block('[{"name":"get_weather","arguments":{"city":"Oslo"}},{"name":"get_time","arguments":{}}]')}\nMade-up result.`,
    );
    expect(verdict.ok).toBe(true);
    if (!verdict.ok) return;
    expect(verdict.toolCalls.map((call) => [call.name, call.arguments])).toEqual([
      ['get_weather', '{"city":"Oslo"}'],
      ['get_time', '{}'],
    ]);
    expect(verdict.toolCalls[0].id).toMatch(/^call_[A-Za-z0-9]{24}$/);
    expect(verdict.toolCalls[0].id).not.toBe(verdict.toolCalls[1].id);
    expect(verdict.content).toBe('Sure.');
  });

  it('keeps only the first call when parallel calls are off', () => {
    const verdict = judge(block('[{"name":"get_time","arguments":{}},{"name":"get_time","arguments":{}}]'), setup({ parallel: false }));
    expect(verdict.ok && verdict.toolCalls).toHaveLength(1);
  });

  it.each([
    ['broken JSON', block('[{"name":"get_weather","arguments":{city:"Paris"}}]'), /not valid JSON/],
    ['an unknown function', block('[{"name":"launch","arguments":{}}]'), /"launch" is not one of the functions offered/],
    ['arguments failing the schema', block('[{"name":"get_weather","arguments":{"town":"Paris"}}]'), /do not match its schema: .*city/],
    [
      'arguments as a broken string',
      block('[{"name":"get_weather","arguments":"{\\"city\\":"}]'),
      /arguments of "get_weather" are not valid JSON/,
    ],
  ])('refuses %s with a corrective message', (_label, text, problem) => {
    const verdict = judge(text);
    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    expect(verdict.code).toBe('invalid_tool_call');
    expect(verdict.problem).toMatch(problem);
    expect(verdict.correction).toContain('<tool_calls>');
  });

  it('accepts arguments given as a JSON string and the OpenAI-like nested form', () => {
    const verdict = judge(block('[{"function":{"name":"get_weather","arguments":"{\\"city\\":\\"Rome\\"}"}}]'));
    expect(verdict).toMatchObject({ ok: true, toolCalls: [{ name: 'get_weather', arguments: '{"city":"Rome"}' }] });
  });

  it('asks for a call when tool_choice requires one and the answer has none', () => {
    expect(judge('It is sunny.', setup({ choice: 'required' }))).toMatchObject({ ok: false, code: 'missing_tool_call' });
    const named = judge(
      block('[{"name":"get_time","arguments":{}}]'),
      setup({ choice: { type: 'function', function: { name: 'get_weather' } } }),
    );
    expect(named).toMatchObject({ ok: false, code: 'invalid_tool_call' });
  });

  it('judges a turn without a call against the JSON format when one is asked for too', () => {
    const scanned = (text: string) => {
      const scanner = new ToolCallScanner(true);
      scanner.push(text);
      return scanner.end();
    };
    expect(judgeToolAnswer(scanned('```json\n{"a": 1}\n```'), setup(), {})).toEqual({ ok: true, content: '{"a":1}', toolCalls: [] });
    expect(judgeToolAnswer(scanned('not json'), setup(), {})).toMatchObject({ ok: false, code: 'invalid_structured_output' });
    expect(judgeToolAnswer(scanned(block('[{"name":"get_time","arguments":{}}]')), setup(), {})).toMatchObject({
      ok: true,
      toolCalls: [{ name: 'get_time' }],
    });
  });

  it('lets a plain answer through in auto mode', () => {
    expect(judge('No tool needed.')).toEqual({ ok: true, content: 'No tool needed.', toolCalls: [] });
  });
});
