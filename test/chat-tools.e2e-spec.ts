import OpenAI from 'openai';
import { LengthFinishReasonError } from 'openai/error';
import request from 'supertest';
import { jsonResponder, toolResponder } from './fake-upstream/tool-scenarios';
import { sseData, Stack, startStack } from './support/stack';

jest.setTimeout(120_000);

const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'The current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  },
};
const timeTool = {
  type: 'function' as const,
  function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'string' } } } },
};
const TOOLS = [weatherTool, timeTool];
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const personSchema = {
  type: 'object',
  properties: { name: { type: 'string' }, age: { type: 'integer' } },
  required: ['name', 'age'],
  additionalProperties: false,
};

interface SentMessage {
  author: { role: string };
  content: { parts: string[] };
}

describe('chat API: emulated function calling and structured output', () => {
  let stack: Stack;
  let token: string;
  let client: OpenAI;

  beforeAll(async () => {
    stack = await startStack();
    token = stack.fake.createAccessToken({ plan: 'plus' });
    client = stack.openai(token);
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.fake.reset());

  const post = (body: object) => request(stack.url).post('/v1/chat/completions').set('authorization', `Bearer ${token}`).send(body);
  const sent = (index: number) => (stack.fake.conversationRequests()[index].body as { messages: SentMessage[] }).messages;
  const systemTextSent = (index: number) =>
    sent(index)
      .filter((m) => m.author.role === 'system')
      .map((m) => m.content.parts.join(''))
      .join('\n');
  const lastTextSent = (index: number) => sent(index).at(-1)!.content.parts.join('');
  const streamChunks = (text: string) =>
    sseData(text)
      .filter((payload) => payload !== '[DONE]')
      .map((payload) => JSON.parse(payload));

  describe('tools, non-stream', () => {
    it('answers a call in OpenAI shape: call_ id, JSON-string arguments, finish_reason tool_calls, no protocol text', async () => {
      stack.fake.enqueue(toolResponder());
      const completion = await client.chat.completions.create({
        model: 'gpt-4o',
        tools: TOOLS,
        messages: [{ role: 'user', content: 'Weather please.\ncall get_weather {"city": "Paris"}' }],
      });
      const choice = completion.choices[0];
      expect(choice.finish_reason).toBe('tool_calls');
      expect(choice.message.content).toBeNull();
      expect(choice.message.tool_calls).toEqual([
        {
          id: expect.stringMatching(/^call_[A-Za-z0-9]{24}$/),
          type: 'function',
          function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
        },
      ]);
      const system = systemTextSent(0);
      expect(system).toContain('# Tools');
      expect(system).toContain('"name": "get_weather"');
      expect(system).toContain('"additionalProperties": false');
    });

    it('keeps text before the call as content and drops text the model invents after it', async () => {
      stack.fake.enqueue(toolResponder());
      const completion = await client.chat.completions.create({
        model: 'gpt-4o',
        tools: TOOLS,
        messages: [{ role: 'user', content: 'say Let me check that.\ncall get_time {"zone": "UTC"}' }],
      });
      expect(completion.choices[0].message.content).toBe('Let me check that.');
      expect(completion.choices[0].message.tool_calls![0]).toMatchObject({ function: { name: 'get_time', arguments: '{"zone":"UTC"}' } });
      expect(JSON.stringify(completion)).not.toContain('probably fine');
    });

    it('returns parallel calls, and only one when parallel_tool_calls is false', async () => {
      const content = 'call get_weather {"city": "Oslo"}\ncall get_time {"zone": "CET"}';
      stack.fake.enqueue(toolResponder());
      const parallel = await client.chat.completions.create({ model: 'gpt-4o', tools: TOOLS, messages: [{ role: 'user', content }] });
      expect(parallel.choices[0].message.tool_calls!.map((call) => call.type === 'function' && call.function.name)).toEqual([
        'get_weather',
        'get_time',
      ]);
      const ids = parallel.choices[0].message.tool_calls!.map((call) => call.id);
      expect(new Set(ids).size).toBe(2);

      stack.fake.enqueue(toolResponder());
      const single = await client.chat.completions.create({
        model: 'gpt-4o',
        tools: TOOLS,
        parallel_tool_calls: false,
        messages: [{ role: 'user', content }],
      });
      expect(single.choices[0].message.tool_calls).toHaveLength(1);
      expect(systemTextSent(1)).toContain('Call at most one function per answer');
    });

    it('keeps a closing tag quoted inside the arguments as part of them', async () => {
      stack.fake.enqueue({
        kind: 'text',
        text: '<tool_calls>\n[{"name": "get_weather", "arguments": {"city": "a </tool_calls> b"}}]\n</tool_calls>',
        chunks: 7,
      });
      const completion = await client.chat.completions.create({
        model: 'gpt-4o',
        tools: TOOLS,
        messages: [{ role: 'user', content: 'Weather?' }],
      });
      expect(completion.choices[0].message.tool_calls![0]).toMatchObject({ function: { arguments: '{"city":"a </tool_calls> b"}' } });
      expect(stack.fake.conversationRequests()).toHaveLength(1);
    });

    it('accepts a calls block wrapped in a code fence', async () => {
      stack.fake.enqueue(toolResponder());
      const completion = await client.chat.completions.create({
        model: 'gpt-4o',
        tools: TOOLS,
        messages: [{ role: 'user', content: 'fenced\ncall get_time {}' }],
      });
      expect(completion.choices[0].message.tool_calls![0]).toMatchObject({ function: { name: 'get_time', arguments: '{}' } });
      expect(completion.choices[0].message.content).toBeNull();
    });

    it('finds a calls block the model wrote after text on the same line, stream or not', async () => {
      const inline = 'Let me look that up. <tool_calls>[{"name":"get_weather","arguments":{"city":"Paris"}}]</tool_calls>';
      stack.fake.enqueue({ kind: 'text', text: inline, chunks: 7 });
      const completion = await client.chat.completions.create({
        model: 'gpt-4o',
        tools: TOOLS,
        messages: [{ role: 'user', content: 'Weather?' }],
      });
      expect(completion.choices[0].message.content).toBe('Let me look that up.');
      expect(completion.choices[0].message.tool_calls![0]).toMatchObject({
        function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
      });

      stack.fake.enqueue({ kind: 'text', text: inline, chunks: 7 });
      const stream = await post({ model: 'gpt-4o', stream: true, tools: TOOLS, messages: [{ role: 'user', content: 'Weather?' }] });
      expect(stream.text).not.toContain('tool_calls>');
      const deltas = streamChunks(stream.text).map((chunk) => chunk.choices[0]?.delta ?? {});
      expect(deltas.map((delta) => delta.content ?? '').join('')).toMatch(/^Let me look that up\. ?$/);
      expect(streamChunks(stream.text).at(-1).choices[0].finish_reason).toBe('tool_calls');
    });

    it('passes prose and code that only mention the tag through intact', async () => {
      const text =
        'Write `<tool_calls>[…]</tool_calls>` to call.\n```html\nThen <tool_calls>[{"name":"get_time","arguments":{}}]\n```\nOr <tool_calls> alone.';
      stack.fake.enqueue({ kind: 'text', text, chunks: 9 });
      const completion = await client.chat.completions.create({
        model: 'gpt-4o',
        tools: TOOLS,
        messages: [{ role: 'user', content: 'How?' }],
      });
      expect(completion.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: text } });
    });

    it('tool_choice auto: a plain answer stays a plain answer', async () => {
      stack.fake.enqueue(toolResponder());
      const completion = await client.chat.completions.create({
        model: 'gpt-4o',
        tools: TOOLS,
        tool_choice: 'auto',
        messages: [{ role: 'user', content: 'Hello there' }],
      });
      expect(completion.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: 'I can answer that without any tool.' } });
      expect(completion.choices[0].message.tool_calls).toBeUndefined();
    });

    it('tool_choice none: no tools are offered to the model', async () => {
      stack.fake.enqueue(toolResponder());
      const completion = await client.chat.completions.create({
        model: 'gpt-4o',
        tools: TOOLS,
        tool_choice: 'none',
        messages: [{ role: 'user', content: 'get_weather in Paris' }],
      });
      expect(completion.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: 'No tools were offered.' } });
      expect(systemTextSent(0)).not.toContain('get_weather');
    });

    it('tool_choice required: a reply without a call gets one corrective round', async () => {
      stack.fake.enqueue(toolResponder());
      stack.fake.enqueue(toolResponder());
      const completion = await client.chat.completions.create({
        model: 'gpt-4o',
        tools: TOOLS,
        tool_choice: 'required',
        messages: [{ role: 'user', content: 'Hello there' }],
      });
      expect(completion.choices[0].finish_reason).toBe('tool_calls');
      expect(completion.choices[0].message.tool_calls![0]).toMatchObject({
        function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
      });
      expect(stack.fake.conversationRequests()).toHaveLength(2);
      expect(systemTextSent(0)).toContain('You must call at least one function');
      expect(lastTextSent(1)).toMatch(/^You must call a function now/);
      expect(sent(1).at(-2)).toMatchObject({ author: { role: 'assistant' }, content: { parts: ['I can answer that without any tool.'] } });
    });

    it('tool_choice naming a function: a call of another one is corrected', async () => {
      stack.fake.enqueue(toolResponder());
      stack.fake.enqueue(toolResponder());
      const completion = await client.chat.completions.create({
        model: 'gpt-4o',
        tools: TOOLS,
        tool_choice: { type: 'function', function: { name: 'get_time' } },
        messages: [{ role: 'user', content: 'call get_weather {"city": "Rome"}\nfixed get_time {"zone": "Europe/Rome"}' }],
      });
      expect(completion.choices[0].message.tool_calls).toEqual([
        expect.objectContaining({ function: { name: 'get_time', arguments: '{"zone":"Europe/Rome"}' } }),
      ]);
      expect(systemTextSent(0)).toContain('You must call the function "get_time"');
      expect(lastTextSent(1)).toContain('the function "get_time" is required');
    });

    it('repairs broken arguments with one corrective round in the same conversation', async () => {
      stack.fake.enqueue(toolResponder());
      stack.fake.enqueue(toolResponder());
      const completion = await client.chat.completions.create({
        model: 'gpt-4o',
        tools: TOOLS,
        messages: [{ role: 'user', content: 'call get_weather {"city": Paris}\nfixed get_weather {"city": "Paris"}' }],
      });
      expect(completion.choices[0].message.tool_calls![0]).toMatchObject({
        function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
      });
      const second = sent(1);
      expect(second.slice(0, sent(0).length).map((m) => m.content.parts.join(''))).toEqual(sent(0).map((m) => m.content.parts.join('')));
      expect(lastTextSent(1)).toMatch(/^Your function call cannot be used: .*not valid JSON/);
    });

    it('reports arguments that stay invalid as a clear 502, never passing them on', async () => {
      stack.fake.enqueue(toolResponder());
      stack.fake.enqueue(toolResponder());
      const response = await post({
        model: 'gpt-4o',
        tools: TOOLS,
        messages: [{ role: 'user', content: 'call get_weather {"city": Paris}\nfixed get_weather {"town": "Paris"}' }],
      });
      expect(response.status).toBe(502);
      expect(response.body.error).toMatchObject({ type: 'upstream_error', code: 'invalid_tool_call', param: null });
      expect(response.body.error.message).toMatch(/do not match its schema.*city.*corrective round/);
      expect(stack.fake.conversationRequests()).toHaveLength(2);
    });

    it('ends a call the token limit cut with finish_reason length, as OpenAI does, never a 502 the SDK would retry', async () => {
      stack.fake.enqueue({
        kind: 'text',
        text: 'Let me look.\n<tool_calls>\n[{"name": "get_weather", "arguments": {"city": "Paris and a long way around"}}]\n</tool_calls>',
      });
      const completion = await client.chat.completions.create({
        model: 'gpt-4o',
        tools: TOOLS,
        max_tokens: 8,
        messages: [{ role: 'user', content: 'Weather?' }],
      });
      expect(completion.choices[0].finish_reason).toBe('length');
      expect(completion.choices[0].message.tool_calls).toBeUndefined();
      expect(completion.choices[0].message.content).toBe('Let me look.');
      // No corrective round: it would be cut again.
      expect(stack.fake.conversationRequests()).toHaveLength(1);

      stack.fake.enqueue({
        kind: 'text',
        text: '<tool_calls>\n[{"name": "get_weather", "arguments": {"city": "Paris and further"}}]\n</tool_calls>',
      });
      const stream = await post({
        model: 'gpt-4o',
        tools: TOOLS,
        max_tokens: 6,
        stream: true,
        messages: [{ role: 'user', content: 'Weather?' }],
      });
      const chunks = streamChunks(stream.text);
      expect(chunks.at(-1).choices[0].finish_reason).toBe('length');
      expect(stream.text).not.toContain('tool_calls>');
      expect(stream.text).not.toContain('"error"');
    });

    it('renders earlier calls and results into the history in the same convention', async () => {
      stack.fake.enqueue(toolResponder());
      const completion = await client.chat.completions.create({
        model: 'gpt-4o',
        tools: TOOLS,
        messages: [
          { role: 'user', content: 'Weather in Paris and the time?' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'call_w', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
              { id: 'call_t', type: 'function', function: { name: 'get_time', arguments: '{}' } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_w', content: 'sunny' },
          { role: 'tool', tool_call_id: 'call_t', content: '12:00' },
        ],
      });
      expect(completion.choices[0].message.content).toBe('The tools answered: sunny; 12:00.');
      const texts = sent(0).map((m) => `${m.author.role}: ${m.content.parts.join('')}`);
      expect(texts).toContain(
        'assistant: <tool_calls>\n[{"id":"call_w","name":"get_weather","arguments":{"city":"Paris"}},{"id":"call_t","name":"get_time","arguments":{}}]\n</tool_calls>',
      );
      expect(texts).toContain('user: <tool_result call_id="call_w" name="get_weather">\nsunny\n</tool_result>');
    });
  });

  describe('tools, stream', () => {
    it('sends OpenAI tool_calls deltas: id, type and name first, arguments in pieces, then finish_reason tool_calls', async () => {
      stack.fake.enqueue(toolResponder());
      const long = 'A very long city name that needs more than one argument chunk, surely';
      const response = await post({
        model: 'gpt-4o',
        stream: true,
        tools: TOOLS,
        messages: [{ role: 'user', content: `say Checking both.\ncall get_weather {"city": "${long}"}\ncall get_time {}` }],
      });
      const chunks = streamChunks(response.text);
      const deltas = chunks.map((chunk) => chunk.choices[0]?.delta ?? {});
      const content = deltas.map((delta) => delta.content ?? '').join('');
      // As the whole answer has it: the line break before the calls is their layout, not text.
      expect(content).toBe('Checking both.');
      expect(response.text).not.toContain('tool_calls>');
      expect(response.text).not.toContain('probably fine');
      const callDeltas = deltas.filter((delta) => delta.tool_calls).map((delta) => delta.tool_calls[0]);
      const first = callDeltas.filter((call) => call.id);
      expect(first).toEqual([
        { index: 0, id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'get_weather', arguments: '' } },
        { index: 1, id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'get_time', arguments: '' } },
      ]);
      const weatherPieces = callDeltas.filter((call) => call.index === 0 && !call.id).map((call) => call.function.arguments);
      expect(weatherPieces.length).toBeGreaterThan(1);
      expect(JSON.parse(weatherPieces.join(''))).toEqual({ city: long });
      expect(chunks.at(-1).choices[0]).toMatchObject({ delta: {}, finish_reason: 'tool_calls' });
      expect(response.text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    });

    it('never splits a surrogate pair between two argument pieces', async () => {
      // '{"city":"' is 9 units: the emoji's high surrogate is unit 47, the last of the first 48-unit piece.
      const city = `${'a'.repeat(38)}😀 and more`;
      stack.fake.enqueue({ kind: 'text', text: `<tool_calls>\n[{"name":"get_weather","arguments":{"city":"${city}"}}]\n</tool_calls>` });
      const response = await post({ model: 'gpt-4o', stream: true, tools: TOOLS, messages: [{ role: 'user', content: 'Weather?' }] });
      const pieces = streamChunks(response.text)
        .flatMap((chunk) => chunk.choices[0]?.delta?.tool_calls ?? [])
        .map((call: { function: { arguments: string } }) => call.function.arguments);
      expect(pieces.join('')).toBe(JSON.stringify({ city }));
      expect(pieces.filter(Boolean).length).toBeGreaterThan(1);
      for (const piece of pieces) expect(piece).not.toMatch(LONE_SURROGATE);
    });

    it('is assembled by the SDK stream helper into the same calls', async () => {
      stack.fake.enqueue(toolResponder());
      const stream = client.chat.completions.stream({
        model: 'gpt-4o',
        tools: TOOLS,
        messages: [{ role: 'user', content: 'call get_weather {"city": "Paris"}\ncall get_time {"zone": "UTC"}' }],
      });
      const completion = await stream.finalChatCompletion();
      expect(completion.choices[0].finish_reason).toBe('tool_calls');
      expect(
        completion.choices[0].message.tool_calls!.map((call) => call.type === 'function' && [call.function.name, call.function.arguments]),
      ).toEqual([
        ['get_weather', '{"city":"Paris"}'],
        ['get_time', '{"zone":"UTC"}'],
      ]);
    });

    it('streams a plain answer through unchanged when no call is made', async () => {
      stack.fake.enqueue({ kind: 'text', text: 'Plain words,\nno tools <b>here</b>.\n```js\nx()\n```\nDone.', chunks: 9 });
      const response = await post({ model: 'gpt-4o', stream: true, tools: TOOLS, messages: [{ role: 'user', content: 'hi' }] });
      const chunks = streamChunks(response.text);
      const texts = chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? '').filter(Boolean);
      expect(texts.join('')).toBe('Plain words,\nno tools <b>here</b>.\n```js\nx()\n```\nDone.');
      expect(texts.length).toBeGreaterThan(3);
      expect(chunks.at(-1).choices[0].finish_reason).toBe('stop');
    });

    it('repairs broken arguments in a stream without leaking the broken call', async () => {
      stack.fake.enqueue(toolResponder());
      stack.fake.enqueue(toolResponder());
      const response = await post({
        model: 'gpt-4o',
        stream: true,
        tools: TOOLS,
        messages: [{ role: 'user', content: 'call get_weather {"city": Paris}\nfixed get_weather {"city": "Lyon"}' }],
      });
      expect(response.text).not.toContain('Paris');
      const calls = streamChunks(response.text).flatMap((chunk) => chunk.choices[0]?.delta?.tool_calls ?? []);
      expect(calls.map((call) => call.function.arguments).join('')).toBe('{"city":"Lyon"}');
      expect(stack.fake.conversationRequests()).toHaveLength(2);
    });

    it('shows the text answer of a corrective round after the text the first round showed, as the whole answer has it', async () => {
      const broken = 'Let me check.\n<tool_calls>\n[{"name":"get_weather","arguments":{"town":"Paris"}}]\n</tool_calls>';
      const body = { model: 'gpt-4o', tools: TOOLS, messages: [{ role: 'user', content: 'Weather?' }] };
      const contents: string[] = [];
      for (const stream of [false, true]) {
        stack.fake.enqueue({ kind: 'text', text: broken, chunks: 6 });
        stack.fake.enqueue({ kind: 'text', text: 'Which city do you mean?' });
        const response = await post({ ...body, stream });
        expect(response.status).toBe(200);
        if (!stream) {
          expect(response.body.choices[0]).toMatchObject({ finish_reason: 'stop' });
          contents.push(response.body.choices[0].message.content);
        } else {
          const chunks = streamChunks(response.text);
          expect(chunks.at(-1).choices[0].finish_reason).toBe('stop');
          contents.push(chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? '').join(''));
        }
      }
      expect(contents).toEqual(['Let me check.\n\nWhich city do you mean?', 'Let me check.\n\nWhich city do you mean?']);
      expect(stack.fake.conversationRequests()).toHaveLength(4);
    });

    it('ends the stream with an in-band error when the repair fails too', async () => {
      stack.fake.enqueue(toolResponder());
      stack.fake.enqueue(toolResponder());
      const stream = await client.chat.completions.create({
        model: 'gpt-4o',
        stream: true,
        tools: TOOLS,
        tool_choice: 'required',
        messages: [{ role: 'user', content: 'call nothing_known {}\nfixed get_weather {}' }],
      });
      const failure = (async () => {
        for await (const chunk of stream) expect(chunk.choices[0]?.delta.tool_calls).toBeUndefined();
      })();
      await expect(failure).rejects.toBeInstanceOf(OpenAI.APIError);
      await expect(failure).rejects.toMatchObject({ code: 'invalid_tool_call' });
    });
  });

  describe("the SDK's tool runner", () => {
    const runnerTools = (calls: unknown[]) => [
      {
        type: 'function' as const,
        function: {
          name: 'get_weather',
          description: 'The current weather in a city',
          parameters: weatherTool.function.parameters,
          parse: JSON.parse,
          function: (args: { city: string }) => {
            calls.push(args);
            return `sunny in ${args.city}`;
          },
        },
      },
    ];

    it.each([false, true])('runs a two-round conversation (stream: %s)', async (streaming) => {
      stack.fake.enqueue(toolResponder());
      stack.fake.enqueue(toolResponder());
      const calls: unknown[] = [];
      const messages = [{ role: 'user' as const, content: 'What is the weather? Use get_weather.' }];
      const runner = streaming
        ? client.chat.completions.runTools({ model: 'gpt-4o', stream: true, messages, tools: runnerTools(calls) })
        : client.chat.completions.runTools({ model: 'gpt-4o', messages, tools: runnerTools(calls) });
      expect(await runner.finalContent()).toBe('The tools answered: sunny in Paris.');
      expect(calls).toEqual([{ city: 'Paris' }]);
      expect(stack.fake.conversationRequests()).toHaveLength(2);
      expect(
        sent(1)
          .map((m) => m.content.parts.join(''))
          .join('\n'),
      ).toContain('<tool_result call_id="call_');
    });
  });

  describe('the deprecated functions and function_call', () => {
    const functions = TOOLS.map((tool) => tool.function);

    it('offers functions as tools and answers in the legacy shape: message.function_call, finish_reason function_call', async () => {
      stack.fake.enqueue(toolResponder());
      const completion = await client.chat.completions.create({
        model: 'gpt-4o',
        functions,
        function_call: { name: 'get_weather' },
        messages: [{ role: 'user', content: 'call get_weather {"city": "Paris"}' }],
      });
      const choice = completion.choices[0];
      expect(choice.finish_reason).toBe('function_call');
      expect(choice.message.content).toBeNull();
      expect(choice.message.function_call).toEqual({ name: 'get_weather', arguments: '{"city":"Paris"}' });
      expect(choice.message).not.toHaveProperty('tool_calls');
      const system = systemTextSent(0);
      expect(system).toContain('"name": "get_time"');
      expect(system).toContain('You must call the function "get_weather"');
      expect(system).toContain('Call at most one function per answer');

      // The legacy shape holds one call: a model that makes two anyway gets its first one through.
      stack.fake.enqueue(toolResponder());
      const first = await client.chat.completions.create({
        model: 'gpt-4o',
        functions,
        messages: [{ role: 'user', content: 'call get_time {}\ncall get_weather {"city": "Oslo"}' }],
      });
      expect(first.choices[0]).toMatchObject({
        finish_reason: 'function_call',
        message: { function_call: { name: 'get_time', arguments: '{}' } },
      });
    });

    it('streams function_call deltas, name first, which the SDK stream helper assembles', async () => {
      stack.fake.enqueue(toolResponder());
      const long = 'A city with a name long enough to need more than one piece of arguments';
      const response = await post({
        model: 'gpt-4o',
        stream: true,
        functions,
        messages: [{ role: 'user', content: `say Checking.\ncall get_weather {"city": "${long}"}` }],
      });
      const deltas = streamChunks(response.text).map((chunk) => chunk.choices[0]?.delta ?? {});
      expect(deltas.some((delta) => delta.tool_calls)).toBe(false);
      const pieces = deltas.filter((delta) => delta.function_call).map((delta) => delta.function_call);
      expect(pieces[0]).toEqual({ name: 'get_weather', arguments: '' });
      expect(pieces.length).toBeGreaterThan(2);
      expect(pieces.slice(1).every((piece) => piece.name === undefined)).toBe(true);
      expect(JSON.parse(pieces.map((piece) => piece.arguments).join(''))).toEqual({ city: long });
      expect(deltas.map((delta) => delta.content ?? '').join('')).toBe('Checking.');
      expect(streamChunks(response.text).at(-1).choices[0].finish_reason).toBe('function_call');

      stack.fake.enqueue(toolResponder());
      const stream = client.chat.completions.stream({
        model: 'gpt-4o',
        functions,
        messages: [{ role: 'user', content: 'call get_time {"zone": "UTC"}' }],
      });
      const final = await stream.finalChatCompletion();
      expect(final.choices[0].finish_reason).toBe('function_call');
      expect(final.choices[0].message.function_call).toEqual({ name: 'get_time', arguments: '{"zone":"UTC"}' });
    });

    it('carries an earlier function_call and its function result to the model like tool calls and results', async () => {
      stack.fake.enqueue(toolResponder());
      const completion = await client.chat.completions.create({
        model: 'gpt-4o',
        functions,
        messages: [
          { role: 'user', content: 'Weather in Paris?' },
          { role: 'assistant', content: null, function_call: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { role: 'function', name: 'get_weather', content: 'sunny' },
        ],
      });
      expect(completion.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: 'The tools answered: sunny.' } });
      const texts = sent(0).map((m) => `${m.author.role}: ${m.content.parts.join('')}`);
      expect(texts).toContain('assistant: <tool_calls>\n[{"name":"get_weather","arguments":{"city":"Paris"}}]\n</tool_calls>');
      expect(texts).toContain('user: <tool_result name="get_weather">\nsunny\n</tool_result>');
    });

    it("function_call 'none' offers no functions", async () => {
      stack.fake.enqueue(toolResponder());
      const completion = await client.chat.completions.create({
        model: 'gpt-4o',
        functions,
        function_call: 'none',
        messages: [{ role: 'user', content: 'call get_weather {"city": "Paris"}' }],
      });
      expect(completion.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: 'No tools were offered.' } });
    });

    it('takes functions and function_call given as null for absent, as OpenAI does (found by the HTTP fuzz)', async () => {
      const ask = (fields: object) =>
        request(stack.url)
          .post('/v1/chat/completions')
          .set('authorization', `Bearer ${token}`)
          .send({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello' }], ...fields });
      stack.fake.enqueue({ kind: 'text', text: 'Plain.' });
      const neither = await ask({ functions: null, function_call: null });
      stack.fake.enqueue(toolResponder());
      const noChoice = await ask({ functions, function_call: null });
      expect([neither.status, neither.body.choices?.[0]?.message]).toEqual([200, expect.objectContaining({ content: 'Plain.' })]);
      expect(noChoice.status).toBe(200);
    });

    it('takes functions alongside tools given as null, which OpenAI reads as no tools', async () => {
      stack.fake.enqueue(toolResponder());
      const response = await request(stack.url)
        .post('/v1/chat/completions')
        .set('authorization', `Bearer ${token}`)
        .send({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Weather in Paris? Use get_weather.' }], functions, tools: null });
      expect(response.status).toBe(200);
      expect(response.body.choices[0]).toMatchObject({
        finish_reason: 'function_call',
        message: { function_call: { name: 'get_weather', arguments: expect.any(String) } },
      });
    });

    it.each([
      ['functions together with tools', { functions, tools: TOOLS }, 'functions', 'invalid_value'],
      ['functions as an object', { functions: functions[0] }, 'functions', 'invalid_value'],
      ['a function without a name', { functions: [{ parameters: {} }] }, 'functions[0].name', 'missing_required_parameter'],
      [
        'a broken function schema',
        { functions: [{ name: 'f', parameters: { type: 'nonsense' } }] },
        'functions[0].parameters',
        'invalid_value',
      ],
      ['function_call naming no function', { functions, function_call: { name: 'nope' } }, 'function_call', 'invalid_value'],
      ['function_call of an unknown mode', { functions, function_call: 'required' }, 'function_call', 'invalid_value'],
      ['function_call naming a function without functions', { function_call: { name: 'get_weather' } }, 'function_call', 'invalid_value'],
      [
        'a history function_call without arguments',
        {
          messages: [
            { role: 'user', content: 'hi' },
            { role: 'assistant', content: null, function_call: { name: 'f' } },
          ],
        },
        'messages[1].function_call.arguments',
        'missing_required_parameter',
      ],
      [
        'a history function_call that is a string',
        {
          messages: [
            { role: 'user', content: 'hi' },
            { role: 'assistant', content: null, function_call: 'f()' },
          ],
        },
        'messages[1].function_call',
        'invalid_value',
      ],
      [
        'a function result without its name',
        {
          messages: [
            { role: 'user', content: 'hi' },
            { role: 'function', content: 'sunny' },
          ],
        },
        'messages[1].name',
        'missing_required_parameter',
      ],
    ])('refuses %s with 400 naming the field, before any upstream work', async (_label, fields, param, code) => {
      const response = await post({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], ...fields });
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({ type: 'invalid_request_error', param, code });
      expect(stack.fake.requests).toHaveLength(0);
    });
  });

  describe('structured output', () => {
    it('json_object: the instruction reaches the model and fenced JSON comes back clean', async () => {
      stack.fake.enqueue(jsonResponder({ fenced: true }));
      const completion = await client.chat.completions.create({
        model: 'gpt-4o',
        response_format: { type: 'json_object' },
        messages: [{ role: 'user', content: 'Give JSON' }],
      });
      expect(completion.choices[0].message.content).toBe('{"answer":"ok"}');
      expect(systemTextSent(0)).toContain('Answer with a single JSON object');
    });

    it('json_schema: the schema reaches the model and a conforming answer is returned', async () => {
      stack.fake.enqueue(jsonResponder());
      const completion = await client.chat.completions.create({
        model: 'gpt-4o',
        response_format: { type: 'json_schema', json_schema: { name: 'person', schema: personSchema, strict: true } },
        messages: [{ role: 'user', content: 'Who?' }],
      });
      expect(JSON.parse(completion.choices[0].message.content!)).toEqual({ name: 'Paris', age: 21 });
      expect(systemTextSent(0)).toContain('"required": [');
    });

    it.each([
      ['2020-12 (zod 4, MCP tools)', 'https://json-schema.org/draft/2020-12/schema'],
      ['2019-09', 'https://json-schema.org/draft/2019-09/schema'],
      ['draft-04', 'http://json-schema.org/draft-04/schema#'],
    ])('takes function parameters and a json_schema declaring $schema %s', async (_name, dialect) => {
      stack.fake.enqueue(toolResponder());
      const called = await client.chat.completions.create({
        model: 'gpt-4o',
        tools: [
          { ...weatherTool, function: { ...weatherTool.function, parameters: { $schema: dialect, ...weatherTool.function.parameters } } },
        ],
        messages: [{ role: 'user', content: 'call get_weather {"city": "Paris"}' }],
      });
      expect(called.choices[0].message.tool_calls![0]).toMatchObject({ function: { name: 'get_weather', arguments: '{"city":"Paris"}' } });

      stack.fake.enqueue(jsonResponder());
      const answered = await client.chat.completions.create({
        model: 'gpt-4o',
        response_format: { type: 'json_schema', json_schema: { name: 'person', schema: { $schema: dialect, ...personSchema } } },
        messages: [{ role: 'user', content: 'Who?' }],
      });
      expect(Object.keys(JSON.parse(answered.choices[0].message.content!) as object)).toEqual(['name', 'age']);
    });

    it('json_schema: an invalid answer is repaired by one corrective round', async () => {
      stack.fake.enqueue({ kind: 'text', text: 'Sure! {"name": "Ann"}' });
      stack.fake.enqueue({ kind: 'text', text: '```json\n{"name": "Ann", "age": 31}\n```' });
      const completion = await client.chat.completions.create({
        model: 'gpt-4o',
        response_format: { type: 'json_schema', json_schema: { name: 'person', schema: personSchema } },
        messages: [{ role: 'user', content: 'Who?' }],
      });
      expect(completion.choices[0].message.content).toBe('{"name":"Ann","age":31}');
      expect(lastTextSent(1)).toMatch(/^Your previous answer cannot be used: .*age/);
    });

    it('json_schema: an answer the token limit cut is the JSON so far with finish_reason length, which the SDK reports', async () => {
      stack.fake.enqueue({ kind: 'text', text: '```json\n{"name": "Annabelle Maria Theresa", "age": 31}\n```' });
      const completion = await client.chat.completions.create({
        model: 'gpt-4o',
        max_tokens: 5,
        response_format: { type: 'json_schema', json_schema: { name: 'person', schema: personSchema, strict: true } },
        messages: [{ role: 'user', content: 'Who?' }],
      });
      expect(completion.choices[0].finish_reason).toBe('length');
      const content = completion.choices[0].message.content!;
      expect(content.length).toBeGreaterThan(0);
      expect('{"name": "Annabelle Maria Theresa", "age": 31}'.startsWith(content)).toBe(true);
      expect(stack.fake.conversationRequests()).toHaveLength(1);

      stack.fake.enqueue({ kind: 'text', text: '{"name": "Annabelle Maria Theresa", "age": 31}' });
      const parsed = client.chat.completions.parse({
        model: 'gpt-4o',
        max_tokens: 5,
        response_format: { type: 'json_schema', json_schema: { name: 'person', schema: personSchema, strict: true } },
        messages: [{ role: 'user', content: 'Who?' }],
      });
      await expect(parsed).rejects.toBeInstanceOf(LengthFinishReasonError);
    });

    it('json_object: an answer that stays invalid is refused with 502 invalid_structured_output', async () => {
      stack.fake.enqueue({ kind: 'text', text: 'I would rather not.' });
      stack.fake.enqueue({ kind: 'text', text: '{"still": broken' });
      const response = await post({
        model: 'gpt-4o',
        response_format: { type: 'json_object' },
        messages: [{ role: 'user', content: 'JSON!' }],
      });
      expect(response.status).toBe(502);
      expect(response.body.error).toMatchObject({ type: 'upstream_error', code: 'invalid_structured_output' });
      expect(response.body.error.message).toMatch(/not valid JSON/);
    });

    it('stream: the answer is held back, validated, then sent as JSON (after a repair when needed)', async () => {
      stack.fake.enqueue({ kind: 'text', text: '{"name": "Bo", "age": "zzz"}', chunks: 5 });
      stack.fake.enqueue({ kind: 'text', text: '{"name": "Bo", "age": 10}', chunks: 5 });
      const response = await post({
        model: 'gpt-4o',
        stream: true,
        response_format: { type: 'json_schema', json_schema: { name: 'person', schema: personSchema } },
        messages: [{ role: 'user', content: 'Who?' }],
      });
      const chunks = streamChunks(response.text);
      const content = chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? '').join('');
      expect(content).toBe('{"name":"Bo","age":10}');
      expect(response.text).not.toContain('zzz');
      expect(chunks.at(-1).choices[0].finish_reason).toBe('stop');
    });

    it('stream: an answer that stays invalid ends in an in-band error the SDK throws', async () => {
      stack.fake.enqueue({ kind: 'text', text: 'nope' });
      stack.fake.enqueue({ kind: 'text', text: 'still nope' });
      const stream = await client.chat.completions.create({
        model: 'gpt-4o',
        stream: true,
        response_format: { type: 'json_object' },
        messages: [{ role: 'user', content: 'JSON!' }],
      });
      const failure = (async () => {
        for await (const chunk of stream) expect(chunk.choices[0]?.delta.content ?? '').toBe('');
      })();
      await expect(failure).rejects.toMatchObject({ code: 'invalid_structured_output' });
    });
  });

  describe('validation of the new fields', () => {
    it.each([
      ['tools not an array', { tools: { type: 'function' } }, 'tools'],
      ['a tool of another type', { tools: [{ type: 'custom', function: { name: 'x' } }] }, 'tools[0].type'],
      ['a bad function name', { tools: [{ type: 'function', function: { name: 'get weather!' } }] }, 'tools[0].function.name'],
      ['a function without a name', { tools: [{ type: 'function', function: { description: 'x' } }] }, 'tools[0].function.name'],
      [
        'a broken parameters schema',
        { tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'nonsense' } } }] },
        'tools[0].function.parameters',
      ],
      ['tool_choice required without tools', { tool_choice: 'required' }, 'tool_choice'],
      [
        'tool_choice naming an unknown function',
        { tools: TOOLS, tool_choice: { type: 'function', function: { name: 'nope' } } },
        'tool_choice',
      ],
      ['tool_choice of an unknown mode', { tools: TOOLS, tool_choice: 'sometimes' }, 'tool_choice'],
      ['parallel_tool_calls not a boolean', { parallel_tool_calls: 'yes' }, 'parallel_tool_calls'],
      ['response_format of an unknown type', { response_format: { type: 'xml' } }, 'response_format.type'],
      ['json_schema without its object', { response_format: { type: 'json_schema' } }, 'response_format.json_schema'],
      [
        'json_schema without a name',
        { response_format: { type: 'json_schema', json_schema: { schema: personSchema } } },
        'response_format.json_schema.name',
      ],
      [
        'a broken response schema',
        { response_format: { type: 'json_schema', json_schema: { name: 'p', schema: { properties: 3 } } } },
        'response_format.json_schema.schema',
      ],
    ])('refuses %s with 400 naming the field, before any upstream work', async (_label, fields, param) => {
      const response = await post({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], ...fields });
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({ type: 'invalid_request_error', param });
      expect(stack.fake.requests).toHaveLength(0);
    });

    it.each([
      ['without its function', { id: 'call_1', type: 'function' }, 'function'],
      ['without a function name', { id: 'call_1', type: 'function', function: { arguments: '{}' } }, 'function.name'],
      ['without arguments', { id: 'call_1', type: 'function', function: { name: 'get_weather' } }, 'function.arguments'],
      ['without a type', { id: 'call_1', function: { name: 'get_weather', arguments: '{}' } }, 'type'],
    ])('refuses a history tool call %s as a missing parameter, before any upstream work', async (_label, call, field) => {
      const response = await post({
        model: 'gpt-4o',
        tools: TOOLS,
        messages: [
          { role: 'user', content: 'weather?' },
          { role: 'assistant', content: null, tool_calls: [call] },
          { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
        ],
      });
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({
        type: 'invalid_request_error',
        code: 'missing_required_parameter',
        param: `messages[1].tool_calls[0].${field}`,
      });
      expect(stack.fake.requests).toHaveLength(0);
    });

    it.each(['tools', 'functions'])("refuses an empty %s list with OpenAI's empty_array error, before any upstream work", async (field) => {
      const response = await post({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], [field]: [] });
      expect([response.status, response.body]).toEqual([
        400,
        { error: { message: `[] is too short - '${field}'`, type: 'invalid_request_error', param: field, code: 'empty_array' } },
      ]);
      expect(stack.fake.requests).toHaveLength(0);
    });

    it('calls tools of the wrong type an invalid value, not a missing parameter', async () => {
      for (const tools of [{ type: 'function', function: { name: 'f' } }, [[weatherTool]]]) {
        const response = await post({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], tools });
        expect(response.status).toBe(400);
        expect(response.body.error).toMatchObject({ code: 'invalid_value', param: Array.isArray(tools) ? 'tools[0]' : 'tools' });
      }
      expect(stack.fake.requests).toHaveLength(0);
    });

    it('refuses a history tool call whose arguments are not a string', async () => {
      const response = await post({
        model: 'gpt-4o',
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: { a: 1 } } }] },
        ],
      });
      expect(response.status).toBe(400);
      expect(response.body.error.param).toBe('messages[1].tool_calls[0].function.arguments');
    });
  });
});
