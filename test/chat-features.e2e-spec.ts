import { encodingFor, TokenCounter } from '../src/chat/token-counter';
import { encode } from 'gpt-tokenizer/cjs/encoding/o200k_base';
import request from 'supertest';
import { sseData, Stack, startStack, waitFor } from './support/stack';

const PNG_1X1 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

describe('chat API features: reasoning, tools, images, limits, routing', () => {
  let stack: Stack;
  let token: string;

  beforeAll(async () => {
    stack = await startStack();
    token = stack.fake.createAccessToken({ plan: 'plus' });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.fake.reset());

  const post = (body: object, key = token) =>
    request(stack.url).post('/v1/chat/completions').set('authorization', `Bearer ${key}`).send(body);

  it('cuts a non-stream answer at max_tokens with finish_reason length', async () => {
    const text = 'One two three four five six seven eight nine ten eleven twelve thirteen fourteen.';
    stack.fake.enqueue({ kind: 'text', text, chunks: 14 });
    const completion = await stack
      .openai(token)
      .chat.completions.create({ model: 'gpt-4o', max_tokens: 5, messages: [{ role: 'user', content: 'count' }] });
    expect(completion.choices[0].finish_reason).toBe('length');
    expect(encode(completion.choices[0].message.content!)).toHaveLength(5);
    expect(text.startsWith(completion.choices[0].message.content!)).toBe(true);
    expect(completion.usage!.completion_tokens).toBe(5);
  });

  it('cuts a streamed answer at max_completion_tokens and stops the upstream', async () => {
    const text = 'Alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi.';
    stack.fake.enqueue({ kind: 'text', text, chunks: 16, delayMs: 5 });
    const stream = await stack.openai(token).chat.completions.create({
      model: 'o3-mini',
      max_completion_tokens: 7,
      stream: true,
      messages: [{ role: 'user', content: 'greek' }],
    });
    let sent = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      sent += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(finish).toBe('length');
    expect(encode(sent)).toHaveLength(7);
    expect(text.startsWith(sent)).toBe(true);
  });

  it('cuts at max_tokens between characters, never inside one that spans tokens (cl100k_base, gpt-3.5-turbo)', async () => {
    const answer = '你好世界，今天天气很好';
    const ask = { model: 'gpt-3.5-turbo', messages: [{ role: 'user' as const, content: 'greet me in Chinese' }], max_tokens: 3 };
    stack.fake.enqueue({ kind: 'text', text: answer });
    const completion = await stack.openai(token).chat.completions.create(ask);
    const content = completion.choices[0].message.content ?? '';
    expect(completion.choices[0].finish_reason).toBe('length');
    expect(content).not.toContain('\uFFFD');
    expect(answer.startsWith(content)).toBe(true);
    expect(content).not.toBe('');
    // Usage counts what the client got.
    expect(completion.usage!.completion_tokens).toBe(stack.app.get(TokenCounter).count(content, 'cl100k_base'));

    // The cut above left nothing behind for the next one.
    stack.fake.enqueue({ kind: 'text', text: answer });
    const stream = await stack.openai(token).chat.completions.create({ ...ask, stream: true });
    let streamed = '';
    for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? '';
    expect(streamed).toBe(content);
  });

  it("maps the upstream's own max_tokens finish to length", async () => {
    stack.fake.enqueue({ kind: 'text', text: 'Truncated by the upstream', finish: 'max_tokens' });
    const completion = await stack.openai(token).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    expect(completion.choices[0].finish_reason).toBe('length');
  });

  describe('stop', () => {
    const react = 'Thought: I need the weather.\nAction: weather[Paris]\nObservation: sunny\nThought: I know it now.';
    const beforeStop = 'Thought: I need the weather.\nAction: weather[Paris]\n';

    it('ends a non-stream answer before the first stop string, with finish_reason stop and usage of the text sent', async () => {
      stack.fake.enqueue({ kind: 'text', text: react, chunks: 30 });
      const completion = await stack.openai(token).chat.completions.create({
        model: 'gpt-4o',
        stop: ['Observation:', '\n\nUser:'],
        messages: [{ role: 'user', content: 'weather in Paris?' }],
      });
      expect(completion.choices[0].message.content).toBe(beforeStop);
      expect(completion.choices[0].finish_reason).toBe('stop');
      expect(completion.usage!.completion_tokens).toBe(encode(beforeStop).length);
    });

    it('streams up to a stop string split across upstream chunks, never past it, then stops the upstream', async () => {
      // Two or three characters per upstream chunk: "Observation:" arrives in several, slowly enough to be cut mid-answer.
      stack.fake.enqueue({ kind: 'text', text: react, chunks: 40, delayMs: 5 });
      const stream = await stack.openai(token).chat.completions.create({
        model: 'gpt-4o',
        stop: 'Observation:',
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'weather in Paris?' }],
      });
      const deltas: string[] = [];
      let finish: string | null = null;
      let usage: { completion_tokens: number } | undefined;
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content) deltas.push(chunk.choices[0].delta.content);
        finish = chunk.choices[0]?.finish_reason ?? finish;
        usage = chunk.usage ?? usage;
      }
      expect(deltas.join('')).toBe(beforeStop);
      // Streamed as it came, not held back whole.
      expect(deltas.length).toBeGreaterThan(5);
      expect(finish).toBe('stop');
      expect(usage!.completion_tokens).toBe(encode(beforeStop).length);
      await waitFor(() => stack.fake.abortedStreams === 1);
    });

    it('keeps the whole answer when no stop string occurs, and ignores empty stop strings', async () => {
      stack.fake.enqueue({ kind: 'text', text: react, chunks: 30 });
      const stream = await stack.openai(token).chat.completions.create({
        model: 'gpt-4o',
        stop: ['', 'Observation: cloudy'],
        stream: true,
        messages: [{ role: 'user', content: 'weather in Paris?' }],
      });
      let streamed = '';
      let finish: string | null = null;
      for await (const chunk of stream) {
        streamed += chunk.choices[0]?.delta.content ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      expect(streamed).toBe(react);
      expect(finish).toBe('stop');
    });

    it('ends with an empty answer when the stop string starts it', async () => {
      stack.fake.enqueue({ kind: 'text', text: '\n\nUser: and then I said', chunks: 6 });
      const completion = await stack
        .openai(token)
        .chat.completions.create({ model: 'gpt-4o', stop: '\n\nUser:', messages: [{ role: 'user', content: 'go on' }] });
      expect(completion.choices[0].message.content).toBe('');
      expect(completion.choices[0].finish_reason).toBe('stop');
      expect(completion.usage!.completion_tokens).toBe(0);
    });

    it('refuses more than 4 stop strings and a stop string that is not a string, as OpenAI does', async () => {
      const ask = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: 'x' }] };
      await expect(stack.openai(token).chat.completions.create({ ...ask, stop: ['a', 'b', 'c', 'd', 'e'] })).rejects.toMatchObject({
        status: 400,
        error: {
          message: "Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length 5 instead.",
          type: 'invalid_request_error',
          param: 'stop',
          code: 'array_above_max_length',
        },
      });
      const wrong = await post({ ...ask, stop: ['a', 7] });
      expect(wrong.status).toBe(400);
      expect(wrong.body.error).toMatchObject({ param: 'stop[1]', code: 'invalid_value' });
      expect(stack.fake.conversationRequests()).toHaveLength(0);
    });

    it('does not cut an answer under emulated tools (stop applies to plain text answers only)', async () => {
      stack.fake.enqueue({ kind: 'text', text: 'No tool needed. Observation: none.' });
      const completion = await stack.openai(token).chat.completions.create({
        model: 'gpt-4o',
        stop: 'Observation:',
        tools: [{ type: 'function', function: { name: 'weather', parameters: { type: 'object', properties: {} } } }],
        messages: [{ role: 'user', content: 'hi' }],
      });
      expect(completion.choices[0].message.content).toBe('No tool needed. Observation: none.');
    });
  });

  it('returns reasoning as reasoning_content, streamed and whole', async () => {
    const scenario = {
      kind: 'reasoning' as const,
      thoughts: [{ summary: 'Planning', content: 'Consider the question.' }],
      seconds: 3,
      text: 'The answer is 42.',
    };
    stack.fake.enqueue(scenario);
    const completion = await post({ model: 'o1', messages: [{ role: 'user', content: 'meaning of life?' }] });
    expect(completion.body.choices[0].message.content).toBe('The answer is 42.');
    expect(completion.body.choices[0].message.reasoning_content).toContain('Consider the question.');
    expect(completion.body.choices[0].message.reasoning_content).toContain('Thought for 3 seconds');
    expect(completion.body.model).toBe('o1');
    // The thoughts' share of the completion tokens, as OpenAI reports it for reasoning models.
    const { usage } = completion.body;
    expect(usage.completion_tokens_details.reasoning_tokens).toBeGreaterThan(0);
    expect(usage.completion_tokens).toBeGreaterThan(usage.completion_tokens_details.reasoning_tokens);

    stack.fake.enqueue(scenario);
    const streamed = await post({ model: 'o1', stream: true, messages: [{ role: 'user', content: 'meaning of life?' }] });
    const deltas = sseData(streamed.text)
      .slice(0, -1)
      .map((payload) => JSON.parse(payload).choices[0]?.delta ?? {});
    expect(deltas.map((delta) => delta.content ?? '').join('')).toBe('The answer is 42.');
    expect(deltas.map((delta) => delta.reasoning_content ?? '').join('')).toContain('Planning');
    const firstReasoning = deltas.findIndex((delta) => delta.reasoning_content);
    const firstContent = deltas.findIndex((delta) => delta.content);
    expect(firstReasoning).toBeGreaterThan(0);
    expect(firstReasoning).toBeLessThan(firstContent);
  });

  it.each([
    [
      'think',
      (content: string) => expect(content).toMatch(/^<think>\n[\s\S]*Consider the question\.[\s\S]*\n<\/think>\n\nThe answer is 42\.$/),
    ],
    ['hidden', (content: string) => expect(content).toBe('The answer is 42.')],
  ])('REASONING_OUTPUT=%s', async (mode, check) => {
    const other = await startStack({ env: { REASONING_OUTPUT: mode } });
    try {
      other.fake.enqueue({
        kind: 'reasoning',
        thoughts: [{ summary: 'Planning', content: 'Consider the question.' }],
        seconds: 3,
        text: 'The answer is 42.',
      });
      const completion = await other
        .openai(other.fake.createAccessToken())
        .chat.completions.create({ model: 'o1', messages: [{ role: 'user', content: 'q' }] });
      check(completion.choices[0].message.content!);
      expect((completion.choices[0].message as { reasoning_content?: string }).reasoning_content).toBeUndefined();
      // The thoughts count once: in think mode they are part of the content counted, never added on top of it.
      const counter = other.app.get(TokenCounter);
      const contentTokens = await counter.countAsync(completion.choices[0].message.content!, encodingFor('o1'));
      expect(completion.usage!.completion_tokens).toBe(contentTokens);
      if (mode === 'think') {
        const thoughtTokens = await counter.countAsync('Consider the question.', encodingFor('o1'));
        expect(completion.usage!.completion_tokens_details!.reasoning_tokens).toBeGreaterThanOrEqual(thoughtTokens);
      }
    } finally {
      await other.close();
    }
  });

  it('REASONING_OUTPUT=think with max_tokens: closes the <think> block and cuts only the answer', async () => {
    const other = await startStack({ env: { REASONING_OUTPUT: 'think' } });
    try {
      const scenario = {
        kind: 'reasoning' as const,
        thoughts: [{ summary: 'Plan', content: 'I should think about this carefully for a while before answering the user.' }],
        seconds: 3,
        text: 'The final answer is forty two, as everyone knows.',
      };
      other.fake.enqueue(scenario);
      const raw = await request(other.url)
        .post('/v1/chat/completions')
        .set('authorization', `Bearer ${other.fake.createAccessToken()}`)
        .send({ model: 'gpt-4o', messages: [{ role: 'user', content: 'q' }], max_tokens: 3, stream: true });
      const chunks = sseData(raw.text)
        .filter((data) => data !== '[DONE]')
        .map((data) => JSON.parse(data).choices?.[0] ?? {});
      const content = chunks.map((choice) => choice.delta?.content ?? '').join('');
      expect(content).toContain('I should think about this carefully');
      expect(content).toContain('\n</think>\n\n');
      // The thoughts do not count against max_tokens (OpenAI's limit is on the answer).
      const answer = content.split('\n</think>\n\n')[1];
      expect(answer).not.toBe('');
      expect(scenario.text.startsWith(answer)).toBe(true);
      expect(other.app.get(TokenCounter).count(answer, encodingFor('gpt-4o'))).toBeLessThanOrEqual(3);
      expect(chunks.map((choice) => choice.finish_reason).filter(Boolean)).toEqual(['length']);
    } finally {
      await other.close();
    }
  });

  it('shows code, its output and interpreter files as markdown', async () => {
    stack.fake.enqueue({
      kind: 'code',
      code: 'print(6 * 7)',
      language: 'python',
      output: '42',
      text: 'Saved the result to [result.csv](sandbox:/mnt/data/result.csv).',
      sandboxFile: '/mnt/data/result.csv',
    });
    const completion = await post({ model: 'gpt-4o', messages: [{ role: 'user', content: 'compute' }] });
    const content: string = completion.body.choices[0].message.content;
    expect(content).toContain('```python\nprint(6 * 7)\n```');
    expect(content).toContain('```Output\n42\n```');
    expect(content).toMatch(/!\[File 1\]\(http:\/\/127\.0\.0\.1:\d+\/files\/[A-Za-z0-9_-]{32}\)/);
  });

  it('shows browsing with its caption and citations', async () => {
    stack.fake.enqueue({
      kind: 'browse',
      initialText: 'Searching the web',
      finishedText: 'Searched 2 sites',
      text: 'NestJS is a framework.',
      citations: [{ url: 'https://nestjs.com', title: 'NestJS' }],
    });
    const completion = await post({ model: 'gpt-4o', messages: [{ role: 'user', content: 'what is nestjs' }] });
    const content: string = completion.body.choices[0].message.content;
    expect(content).toContain('>Searching the web');
    expect(content).toContain('*Searched 2 sites*');
    expect(content).toContain('NestJS is a framework.');
    expect(content).toContain('(https://nestjs.com "NestJS")');
  });

  it('links generated images by their download URL', async () => {
    stack.fake.enqueue({ kind: 'image', prompt: 'a red fox in snow', fileIds: ['file-fox1'] });
    const completion = await post({ model: 'gpt-4o', messages: [{ role: 'user', content: 'draw a fox' }] });
    const content: string = completion.body.choices[0].message.content;
    expect(content).toContain('a red fox in snow');
    expect(content).toMatch(/!\[image\]\(http:\/\/127\.0\.0\.1:\d+\/files\/[A-Za-z0-9_-]{32}\)/);
  });

  it('leaves out an image link that max_tokens would cut, and ends with finish_reason length', async () => {
    stack.fake.enqueue({ kind: 'image', prompt: 'a red fox in snow', fileIds: ['file-fox1'] });
    const whole: string = (await post({ model: 'gpt-4o', messages: [{ role: 'user', content: 'draw a fox' }] })).body.choices[0].message
      .content;
    const beforeLink = whole.slice(0, whole.indexOf('\n![image]('));
    const limit = stack.app.get(TokenCounter).count(beforeLink, encodingFor('gpt-4o')) + 3;

    stack.fake.enqueue({ kind: 'image', prompt: 'a red fox in snow', fileIds: ['file-fox1'] });
    const completion = await post({ model: 'gpt-4o', max_tokens: limit, messages: [{ role: 'user', content: 'draw a fox' }] });
    expect(completion.body.choices[0].finish_reason).toBe('length');
    expect(completion.body.choices[0].message.content).toBe(beforeLink);
  });

  it('points links at FILE_HOST with the scheme of PUBLIC_URL, as a TLS proxy in front would serve them', async () => {
    const proxied = await startStack({ env: { PUBLIC_URL: 'https://gw.example.test', FILE_HOST: 'files.example.test' } });
    try {
      proxied.fake.enqueue({ kind: 'image', prompt: 'a red fox in snow', fileIds: ['file-fox1'] });
      const completion = await proxied
        .openai(proxied.fake.createAccessToken())
        .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'draw a fox' }] });
      expect(completion.choices[0].message.content).toMatch(/!\[image\]\(https:\/\/files\.example\.test\/files\/[A-Za-z0-9_-]{32}\)/);
    } finally {
      await proxied.close();
    }
  });

  it('labels the image prompt block with its tool', async () => {
    stack.fake.enqueue({ kind: 'image', prompt: 'a blue whale', fileIds: ['file-whale'] });
    const completion = await post({ model: 'gpt-4o', messages: [{ role: 'user', content: 'draw a whale' }] });
    expect(completion.body.choices[0].message.content).toContain('```dalle.text2im\n');
  });

  it('counts image prompt tokens from the real image size and detail', async () => {
    const text = { type: 'text', text: 'What is in this image?' };
    const plain = await post({ model: 'gpt-4o', messages: [{ role: 'user', content: [text] }] });
    const withImage = await post({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: [text, { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_1X1}` } }] }],
    });
    const lowDetail = await post({
      model: 'gpt-4o',
      messages: [
        { role: 'user', content: [text, { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_1X1}`, detail: 'low' } }] },
      ],
    });
    expect(withImage.body.usage.prompt_tokens - plain.body.usage.prompt_tokens).toBe(170 + 85);
    expect(lowDetail.body.usage.prompt_tokens - plain.body.usage.prompt_tokens).toBe(85);
  });

  it('answers moderation with the refusal text and finish_reason content_filter, whole and streamed', async () => {
    stack.fake.enqueue({ kind: 'moderation' });
    const completion = await post({ model: 'gpt-4o', messages: [{ role: 'user', content: 'bad' }] });
    expect(completion.body.choices[0].message.content).toMatch(/^I'm sorry, I cannot provide or engage in any content/);
    expect(completion.body.choices[0].finish_reason).toBe('content_filter');

    stack.fake.enqueue({ kind: 'moderation' });
    const stream = await stack
      .openai(token)
      .chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'bad' }] });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toMatch(/^I'm sorry, I cannot provide/);
    expect(finish).toBe('content_filter');
  });

  it('uploads a data: URL image and attaches it to the upstream message', async () => {
    const response = await post({
      model: 'gpt-4o',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in this image?' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_1X1}` } },
          ],
        },
      ],
    });
    expect(response.status).toBe(200);
    const upload = stack.fake.requests.find((sent) => sent.method === 'PUT');
    expect(upload?.headers.authorization).toBeUndefined();
    expect(upload?.headers['x-ms-blob-type']).toBe('BlockBlob');
    const body = stack.fake.conversationRequests()[0].body as {
      messages: {
        content: { content_type: string; parts: unknown[] };
        metadata: { attachments: { mime_type: string; width: number }[] };
      }[];
    };
    const message = body.messages[0];
    expect(message.content.content_type).toBe('multimodal_text');
    expect(message.content.parts).toEqual([
      'What is in this image?',
      expect.objectContaining({ content_type: 'image_asset_pointer', width: 1, height: 1 }),
    ]);
    expect(message.metadata.attachments[0]).toMatchObject({ mime_type: 'image/png', width: 1 });
  });

  it('refuses image URLs that point at private addresses', async () => {
    const response = await post({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `${stack.fake.url}/download/file-x` } }] }],
    });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'invalid_image_url', param: 'messages[0].content[0].image_url.url' });
    expect(response.body.error.message).toContain('not a public address');
  });

  it('sends GPT conversations in gizmo mode and Team accounts with chatgpt-account-id', async () => {
    await post(
      { model: 'gpt-4-gizmo-g-abc123', messages: [{ role: 'user', content: 'hi' }] },
      `${token},c0ffee00-aaaa-4bbb-8ccc-ddddeeeeffff`,
    );
    const sent = stack.fake.conversationRequests()[0];
    expect((sent.body as { conversation_mode: unknown }).conversation_mode).toEqual({ kind: 'gizmo_interaction', gizmo_id: 'g-abc123' });
    expect(sent.headers['chatgpt-account-id']).toBe('c0ffee00-aaaa-4bbb-8ccc-ddddeeeeffff');
    expect(sent.headers.authorization).toBe(`Bearer ${token}`);
  });

  it('talks to a GPT named gizmo-g-… with the default model, whatever letters its id holds', async () => {
    const free = stack.fake.createAccessToken({ persona: 'chatgpt-freeaccount' });
    const ids = ['g-o1XyZ', 'g-auto4Q', 'g-Hgpt-4Q'];
    for (const id of ids) {
      stack.fake.addGizmo(id);
      await stack.openai(free).chat.completions.create({ model: `gizmo-g-${id.slice(2)}`, messages: [{ role: 'user', content: 'hi' }] });
    }
    const sent = stack.fake.conversationRequests().map((request) => request.body as { model: string; conversation_mode: unknown });
    expect(sent).toEqual(
      ids.map((id) => expect.objectContaining({ model: 'gpt-4o', conversation_mode: { kind: 'gizmo_interaction', gizmo_id: id } })),
    );
  });

  it('answers 404 model_not_found for an unknown GPT and for paid-only models on a free account', async () => {
    const unknownGpt = await post({ model: 'gizmo-g-doesnotexist', messages: [{ role: 'user', content: 'hi' }] });
    expect(unknownGpt.status).toBe(404);
    expect(unknownGpt.body.error).toMatchObject({ type: 'invalid_request_error', code: 'model_not_found', param: 'model' });

    const free = stack.fake.createAccessToken({ persona: 'chatgpt-freeaccount' });
    const paidOnly = await post({ model: 'gpt-4', messages: [{ role: 'user', content: 'hi' }] }, free);
    expect(paidOnly.status).toBe(404);
    expect(paidOnly.body.error.code).toBe('model_not_found');
    expect(stack.fake.conversationRequests().filter((sent) => sent.headers.authorization === `Bearer ${free}`)).toHaveLength(0);
  });

  it('converts developer, tool and assistant tool-call history', async () => {
    await post({
      model: 'gpt-4o',
      messages: [
        { role: 'developer', content: 'Use tools.' },
        { role: 'user', content: 'weather?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        },
        { role: 'tool', tool_call_id: 'c1', content: 'sunny' },
      ],
    });
    const body = stack.fake.conversationRequests()[0].body as { messages: { author: { role: string }; content: { parts: string[] } }[] };
    expect(body.messages.map((message) => message.author.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(body.messages[2].content.parts[0]).toContain('get_weather({"city":"Paris"})');
    expect(body.messages[3].content.parts[0]).toContain('sunny');
  });

  it('keeps the same device id and user agent for one account across requests', async () => {
    await post({ model: 'gpt-4o', messages: [{ role: 'user', content: '1' }] });
    await post({ model: 'gpt-4o', messages: [{ role: 'user', content: '2' }] });
    const [first, second] = stack.fake.conversationRequests();
    expect(first.headers['oai-device-id']).toBe(second.headers['oai-device-id']);
    expect(first.headers['user-agent']).toBe(second.headers['user-agent']);
    expect(first.headers['oai-language']).toBe('zh-CN');
  });
});

describe('AUTH_KEY, API_PREFIX and CONVERSATION_ONLY', () => {
  it('requires AUTH_KEY from clients (auth_key or authkey) and forwards it upstream', async () => {
    const stack = await startStack({ env: { AUTH_KEY: 'door-key-123' } });
    try {
      const token = stack.fake.createAccessToken();
      const body = { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] };
      const missing = await request(stack.url).post('/v1/chat/completions').set('authorization', `Bearer ${token}`).send(body);
      expect(missing.status).toBe(401);
      expect(missing.body.error.code).toBe('invalid_api_key');
      const wrong = await request(stack.url)
        .post('/v1/chat/completions')
        .set('authorization', `Bearer ${token}`)
        .set('auth_key', 'door-key-124')
        .send(body);
      expect(wrong.status).toBe(401);
      const viaSdk = await stack.openai(token, { defaultHeaders: { auth_key: 'door-key-123' } }).chat.completions.create(body as never);
      expect(viaSdk.choices[0].message.content).toBeTruthy();
      const viaAlias = await request(stack.url)
        .post('/v1/chat/completions')
        .set('authorization', `Bearer ${token}`)
        .set('authkey', 'door-key-123')
        .send(body);
      expect(viaAlias.status).toBe(200);
      expect(stack.fake.conversationRequests()[0].headers.authkey).toBe('door-key-123');
    } finally {
      await stack.close();
    }
  });

  it('serves the API only under /{API_PREFIX}/v1 when API_PREFIX is set', async () => {
    const stack = await startStack({ env: { API_PREFIX: 'secret-path' } });
    try {
      const token = stack.fake.createAccessToken();
      const models = await stack.openai(token, { baseURL: `${stack.url}/secret-path/v1` }).models.list();
      expect(models.data.length).toBeGreaterThan(0);
      const bare = await request(stack.url).get('/v1/models').set('authorization', `Bearer ${token}`);
      expect(bare.status).toBe(404);
      expect(bare.body.error.code).toBe('unknown_url');
      const wrong = await request(stack.url).get('/other-path/v1/models').set('authorization', `Bearer ${token}`);
      expect(wrong.status).toBe(404);
      // Guessing the prefix: after 20 wrong ones the address is refused even with the right one.
      for (let i = 0; i < 19; i++) await request(stack.url).get(`/guess-${i}/v1/models`).expect(404);
      const locked = await request(stack.url).get('/secret-path/v1/models').set('authorization', `Bearer ${token}`);
      expect(locked.status).toBe(429);
      expect(locked.body.error.type).toBe('rate_limit_error');
      expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    } finally {
      await stack.close();
    }
  });

  it('skips the sentinel entirely with CONVERSATION_ONLY', async () => {
    const stack = await startStack({ env: { CONVERSATION_ONLY: 'true' }, fake: { requireSentinel: false } });
    try {
      const token = stack.fake.createAccessToken();
      const completion = await stack
        .openai(token)
        .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
      expect(completion.choices[0].message.content).toBe('Hello! How can I help you today?');
      expect(stack.fake.sentinelCalls).toBe(0);
      expect(stack.fake.conversationRequests()[0].headers['openai-sentinel-proof-token']).toBeUndefined();
    } finally {
      await stack.close();
    }
  });

  it('refuses a proof of work harder than POW_DIFFICULTY instead of burning CPU', async () => {
    const stack = await startStack({ env: { POW_DIFFICULTY: '00ffff', RETRY_TIMES: '0' }, fake: { powDifficulty: '000fff' } });
    try {
      const response = await request(stack.url)
        .post('/v1/chat/completions')
        .set('authorization', `Bearer ${stack.fake.createAccessToken()}`)
        .send({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
      expect(response.status).toBe(403);
      expect(response.body.error).toMatchObject({ type: 'upstream_error', code: 'pow_failed' });
      expect(stack.fake.conversationRequests()).toHaveLength(0);
    } finally {
      await stack.close();
    }
  });

  it('solves a real proof of work at a harder difficulty the fake insists on', async () => {
    const stack = await startStack({ fake: { powDifficulty: '000fff' } });
    try {
      const completion = await stack
        .openai(stack.fake.createAccessToken())
        .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
      expect(completion.choices[0].message.content).toBe('Hello! How can I help you today?');
    } finally {
      await stack.close();
    }
  });
});

describe('ENABLE_LIMIT', () => {
  it("refuses locally until the upstream's model cap resets, and only for that model", async () => {
    const stack = await startStack();
    try {
      const token = stack.fake.createAccessToken();
      stack.fake.enqueue({
        kind: 'status',
        status: 429,
        body: { detail: { message: 'You have reached the limit', clears_in: 600, code: 'model_cap_exceeded' } },
      });
      const body = { model: 'o1', messages: [{ role: 'user', content: 'x' }] };
      const first = await request(stack.url).post('/v1/chat/completions').set('authorization', `Bearer ${token}`).send(body);
      expect(first.status).toBe(429);
      const second = await request(stack.url).post('/v1/chat/completions').set('authorization', `Bearer ${token}`).send(body);
      expect(second.status).toBe(429);
      expect(Number(second.headers['retry-after'])).toBeGreaterThan(590);
      expect(second.body.error.message).toContain('Request limit exceeded');
      expect(stack.fake.conversationRequests()).toHaveLength(1);
      const otherModel = await request(stack.url)
        .post('/v1/chat/completions')
        .set('authorization', `Bearer ${token}`)
        .send({ ...body, model: 'gpt-4o' });
      expect(otherModel.status).toBe(200);
    } finally {
      await stack.close();
    }
  });
});
