import OpenAI from 'openai';
import request from 'supertest';
import { StoreUnavailableError } from '../src/common/errors/store-unavailable.error';
import { ResponseStore } from '../src/responses/response.store';
import { accountIdFor } from '../src/token-pool/account-record';
import { poolServicesOf } from '../src/token-pool/testing/pool-services';
import { jsonResponder, toolResponder } from './fake-upstream/tool-scenarios';
import { Stack, startStack } from './support/stack';

jest.setTimeout(120_000);

const PNG_1X1 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

const weatherTool = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'The current weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  strict: true,
};

const personSchema = {
  type: 'object',
  properties: { name: { type: 'string' }, age: { type: 'integer' } },
  required: ['name', 'age'],
  additionalProperties: false,
};

interface SentMessage {
  author: { role: string };
  content: { content_type: string; parts: unknown[] };
}

interface SentBody {
  messages: SentMessage[];
  conversation_id?: string;
  parent_message_id: string;
}

/** A raw SSE body as `[event name, parsed data]` pairs. */
function sseEvents(body: string): [string, Record<string, unknown>][] {
  return body
    .split('\n\n')
    .filter((block) => block.startsWith('event: '))
    .map((block) => {
      const [eventLine, dataLine] = block.split('\n');
      return [eventLine.slice('event: '.length), JSON.parse(dataLine.slice('data: '.length)) as Record<string, unknown>];
    });
}

/** Polls `condition` until it holds (a safety deadline only ends a broken test). */
async function waitFor(condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('Responses API (/v1/responses) with the official SDK', () => {
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

  const sent = (index: number) => stack.fake.conversationRequests()[index].body as SentBody;
  const textOf = (message: SentMessage) => message.content.parts.filter((part) => typeof part === 'string').join('');
  const post = (body: object, key = token) => request(stack.url).post('/v1/responses').set('authorization', `Bearer ${key}`).send(body);

  describe('create', () => {
    it('answers a string input with a completed response in OpenAI shape', async () => {
      stack.fake.enqueue({ kind: 'text', text: 'Hello from the fake.' });
      const response = await client.responses.create({ model: 'gpt-4o', input: 'Say hello.', metadata: { trace: 't1' } });
      expect(response).toMatchObject({
        id: expect.stringMatching(/^resp_[0-9a-f]{48}$/),
        object: 'response',
        status: 'completed',
        model: 'gpt-4o',
        error: null,
        incomplete_details: null,
        instructions: null,
        previous_response_id: null,
        store: true,
        parallel_tool_calls: true,
        tool_choice: 'auto',
        tools: [],
        text: { format: { type: 'text' } },
        metadata: { trace: 't1' },
      });
      expect(response.created_at).toBeGreaterThan(1_600_000_000);
      expect(response.output).toEqual([
        {
          type: 'message',
          id: expect.stringMatching(/^msg_/),
          status: 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', text: 'Hello from the fake.', annotations: [], logprobs: [] }],
        },
      ]);
      expect(response.output_text).toBe('Hello from the fake.');
      expect(response.usage).toEqual({
        input_tokens: expect.any(Number),
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: expect.any(Number),
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: response.usage!.input_tokens + response.usage!.output_tokens,
      });
      expect(response.usage!.output_tokens).toBeGreaterThan(0);
      const messages = sent(0).messages;
      expect(messages.map((m) => [m.author.role, textOf(m)])).toEqual([['user', 'Say hello.']]);
    });

    it('sends instructions first, then the items: text, an earlier assistant turn, an image and a file', async () => {
      await client.responses.create({
        model: 'gpt-4o',
        instructions: 'You are terse.',
        input: [
          { role: 'developer', content: 'Answer in English.' },
          { role: 'user', content: [{ type: 'input_text', text: 'First question' }] },
          {
            type: 'message',
            id: 'msg_earlier',
            status: 'completed',
            role: 'assistant',
            content: [{ type: 'output_text', text: 'First answer', annotations: [] }],
          },
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'What is in these?' },
              { type: 'input_image', image_url: `data:image/png;base64,${PNG_1X1}`, detail: 'auto' },
              {
                type: 'input_file',
                filename: 'notes.txt',
                file_data: `data:text/plain;base64,${Buffer.from('some notes').toString('base64')}`,
              },
            ],
          },
        ],
      });
      const messages = sent(0).messages;
      expect(messages.slice(0, 4).map((m) => [m.author.role, textOf(m)])).toEqual([
        ['system', 'You are terse.'],
        ['system', 'Answer in English.'],
        ['user', 'First question'],
        ['assistant', 'First answer'],
      ]);
      const last = messages[4];
      expect(last.author.role).toBe('user');
      expect(last.content.content_type).toBe('multimodal_text');
      expect(last.content.parts).toContainEqual(expect.objectContaining({ content_type: 'image_asset_pointer', width: 1, height: 1 }));
      const attachments = (last as unknown as { metadata: { attachments: { id: string; name: string }[] } }).metadata.attachments;
      expect(attachments.map((a) => a.name)).toContain('notes.txt');
      const notes = attachments.find((a) => a.name === 'notes.txt')!;
      expect(stack.fake.uploadedFile(notes.id)?.bytes.toString('utf8')).toBe('some notes');
    });

    it('reports the upstream thoughts as a reasoning item and counts them as reasoning tokens', async () => {
      stack.fake.enqueue({
        kind: 'reasoning',
        thoughts: [{ summary: 'Planning', content: 'Consider the question.' }],
        seconds: 3,
        text: 'The answer is 42.',
      });
      const response = await client.responses.create({ model: 'o1', input: 'q', reasoning: { effort: 'high', summary: 'auto' } });
      expect(response.output.map((item) => item.type)).toEqual(['reasoning', 'message']);
      const reasoning = response.output[0] as OpenAI.Responses.ResponseReasoningItem;
      expect(reasoning.id).toMatch(/^rs_/);
      expect(reasoning.summary[0].text).toContain('Consider the question.');
      expect(response.output_text).toBe('The answer is 42.');
      expect(response.reasoning).toEqual({ effort: 'high', summary: 'auto' });
      expect(response.usage!.output_tokens_details.reasoning_tokens).toBeGreaterThan(0);
    });

    it('is incomplete when max_output_tokens cuts the answer', async () => {
      stack.fake.enqueue({ kind: 'long', chars: 4000 });
      const response = await client.responses.create({ model: 'gpt-4o', input: 'write a lot', max_output_tokens: 16 });
      expect(response.status).toBe('incomplete');
      expect(response.incomplete_details).toEqual({ reason: 'max_output_tokens' });
      expect(response.max_output_tokens).toBe(16);
      expect(response.output[0]).toMatchObject({ type: 'message', status: 'incomplete' });
      expect(response.usage!.output_tokens).toBeLessThanOrEqual(16);
    });

    it('is incomplete, for the content filter, when the upstream moderated the answer (stream and not)', async () => {
      stack.fake.enqueue({ kind: 'moderation' });
      const response = await client.responses.create({ model: 'gpt-4o', input: 'something flagged' });
      expect(response.status).toBe('incomplete');
      expect(response.incomplete_details).toEqual({ reason: 'content_filter' });
      expect(response.completed_at).toBeNull();

      stack.fake.enqueue({ kind: 'moderation' });
      const stream = await client.responses.create({ model: 'gpt-4o', input: 'something flagged', stream: true });
      const events: OpenAI.Responses.ResponseStreamEvent[] = [];
      for await (const event of stream) events.push(event);
      const last = events.at(-1) as OpenAI.Responses.ResponseIncompleteEvent;
      expect(last.type).toBe('response.incomplete');
      expect(last.response.incomplete_details).toEqual({ reason: 'content_filter' });
    });
  });

  describe('stream', () => {
    it('streams the typed events in order with sequence numbers, and ends with the full response', async () => {
      stack.fake.enqueue({ kind: 'text', text: 'Streaming works fine.', chunks: 4 });
      const stream = await client.responses.create({ model: 'gpt-4o', input: 'stream please', stream: true });
      const events: OpenAI.Responses.ResponseStreamEvent[] = [];
      for await (const event of stream) events.push(event);

      const types = events.map((event) => event.type);
      const deltas = types.filter((type) => type === 'response.output_text.delta').length;
      expect(deltas).toBeGreaterThan(1);
      expect(types).toEqual([
        'response.created',
        'response.in_progress',
        'response.output_item.added',
        'response.content_part.added',
        ...Array<string>(deltas).fill('response.output_text.delta'),
        'response.output_text.done',
        'response.content_part.done',
        'response.output_item.done',
        'response.completed',
      ]);
      expect(events.map((event) => event.sequence_number)).toEqual(events.map((_, index) => index));
      const created = events[0] as OpenAI.Responses.ResponseCreatedEvent;
      expect(created.response).toMatchObject({ status: 'in_progress', output: [] });
      const itemId = (events[2] as OpenAI.Responses.ResponseOutputItemAddedEvent).item.id;
      const textDeltas = events.filter(
        (event): event is OpenAI.Responses.ResponseTextDeltaEvent => event.type === 'response.output_text.delta',
      );
      for (const delta of textDeltas) expect(delta).toMatchObject({ item_id: itemId, output_index: 0, content_index: 0 });
      expect(textDeltas.map((delta) => delta.delta).join('')).toBe('Streaming works fine.');
      expect(events.find((event) => event.type === 'response.output_text.done')).toMatchObject({ text: 'Streaming works fine.' });
      const completed = (events.at(-1) as OpenAI.Responses.ResponseCompletedEvent).response;
      expect(completed).toMatchObject({
        id: created.response.id,
        status: 'completed',
        output: [{ id: itemId, status: 'completed', content: [{ text: 'Streaming works fine.' }] }],
      });
      expect(completed.usage!.output_tokens).toBeGreaterThan(0);

      // What was streamed is what is stored.
      const retrieved = await client.responses.retrieve(created.response.id);
      expect(retrieved.output_text).toBe('Streaming works fine.');
      expect(retrieved.output).toEqual(completed.output);
    });

    it('uses SSE event names the SDK reads, and serves the stream helper with finalResponse()', async () => {
      stack.fake.enqueue({ kind: 'text', text: 'Raw framing.' });
      const raw = await post({ model: 'gpt-4o', input: 'raw', stream: true });
      expect(raw.status).toBe(200);
      expect(raw.headers['content-type']).toMatch(/^text\/event-stream/);
      const events = sseEvents(raw.text);
      expect(events.length).toBeGreaterThan(5);
      for (const [name, data] of events) expect(data.type).toBe(name);
      expect(raw.text).not.toContain('[DONE]');

      stack.fake.enqueue({ kind: 'text', text: 'Helper text here.', chunks: 3 });
      const helper = client.responses.stream({ model: 'gpt-4o', input: 'helper' });
      let snapshot = '';
      helper.on('response.output_text.delta', (event) => {
        snapshot = event.snapshot;
      });
      const final = await helper.finalResponse();
      expect(final.output_text).toBe('Helper text here.');
      expect(snapshot).toBe('Helper text here.');
      expect(final.status).toBe('completed');
    });

    it('streams a reasoning item before the message', async () => {
      stack.fake.enqueue({
        kind: 'reasoning',
        thoughts: [{ summary: 'Planning', content: 'Consider the question.' }],
        seconds: 3,
        text: 'The answer is 42.',
      });
      const final = await client.responses.stream({ model: 'o1', input: 'q' }).finalResponse();
      expect(final.output.map((item) => item.type)).toEqual(['reasoning', 'message']);
      expect((final.output[0] as OpenAI.Responses.ResponseReasoningItem).summary[0].text).toContain('Consider the question.');
      expect(final.output_text).toBe('The answer is 42.');
    });

    it('ends a stream the upstream cuts with response.failed, keeping the text so far', async () => {
      const paced = await startStack({ fake: { chunkDelayMs: 15 } });
      try {
        paced.fake.enqueue({ kind: 'cut', text: 'This answer will be cut off in the middle of it', afterChunks: 3 });
        const key = paced.fake.createAccessToken();
        const stream = await paced.openai(key).responses.create({ model: 'gpt-4o', input: 'cut', stream: true });
        const events: OpenAI.Responses.ResponseStreamEvent[] = [];
        for await (const event of stream) events.push(event);
        const last = events.at(-1) as OpenAI.Responses.ResponseFailedEvent;
        expect(last.type).toBe('response.failed');
        expect(last.response.status).toBe('failed');
        expect(last.response.error).toMatchObject({ code: 'server_error', message: expect.any(String) });
        const message = last.response.output[0] as OpenAI.Responses.ResponseOutputMessage;
        expect(message.status).toBe('incomplete');
        const text = (message.content[0] as OpenAI.Responses.ResponseOutputText).text;
        expect(text.length).toBeGreaterThan(0);
        expect('This answer will be cut off in the middle of it'.startsWith(text)).toBe(true);
        expect(events.some((event) => event.type === 'response.completed')).toBe(false);
        // The record stored in progress as the stream started now holds the failure.
        expect(await paced.openai(key).responses.retrieve(last.response.id)).toMatchObject({
          status: 'failed',
          error: last.response.error,
        });
      } finally {
        await paced.close();
      }
    });
  });

  describe('a stream the client leaves', () => {
    it('is kept as cancelled with the text so far, and can be retrieved and continued', async () => {
      const full = 'One, two, three, four, five, six, seven, eight, nine, ten.';
      stack.fake.enqueue({ kind: 'text', text: full, chunks: 10, delayMs: 100 });
      const stream = await client.responses.create({ model: 'gpt-4o', input: 'Count to ten.', stream: true });
      let id = '';
      for await (const event of stream) {
        if (event.type === 'response.created') id = event.response.id;
        // Leaving the loop closes the connection.
        if (event.type === 'response.output_text.delta') break;
      }

      // Stored as in_progress from the start: wait for the outcome.
      await waitFor(
        async () =>
          (await request(stack.url).get(`/v1/responses/${id}`).set('authorization', `Bearer ${token}`)).body.status === 'cancelled',
      );
      const kept = await client.responses.retrieve(id);
      expect(kept.status).toBe('cancelled');
      expect(kept.error).toBeNull();
      const message = kept.output[0] as OpenAI.Responses.ResponseOutputMessage;
      expect(message.status).toBe('incomplete');
      const text = (message.content[0] as OpenAI.Responses.ResponseOutputText).text;
      expect(text.length).toBeGreaterThan(0);
      expect(full.startsWith(text)).toBe(true);

      stack.fake.enqueue({ kind: 'text', text: 'Eleven.' });
      const next = await client.responses.create({ model: 'gpt-4o', input: 'Go on.', previous_response_id: id });
      expect(next.output_text).toBe('Eleven.');
      // The same upstream conversation, from the answer the client left.
      expect(sent(1).messages.map(textOf)).toEqual(['Go on.']);
      const detail = await request(stack.fake.url)
        .get(`/backend-api/conversation/${sent(1).conversation_id}`)
        .set('authorization', `Bearer ${token}`);
      expect(detail.body.mapping[sent(1).parent_message_id].message.author.role).toBe('assistant');
    });
  });

  describe('a stream still running', () => {
    const get = (id: string) => request(stack.url).get(`/v1/responses/${id}`).set('authorization', `Bearer ${token}`);

    it('is retrieved with status in_progress as response.created showed it, then with the outcome it ends with', async () => {
      stack.fake.enqueue({ kind: 'stall', text: 'Half of it, then silence.', afterChunks: 1, stallMs: 60_000 });
      const stream = await client.responses.create({ model: 'gpt-4o', input: 'Take your time.', stream: true });
      let id = '';
      for await (const event of stream) {
        if (event.type !== 'response.created') continue;
        id = event.response.id;
        const running = await get(id);
        expect(running.status).toBe(200);
        expect(running.body).toEqual(JSON.parse(JSON.stringify(event.response)));
        expect(running.body).toMatchObject({ status: 'in_progress', output: [], usage: null });

        const continued = await post({ model: 'gpt-4o', input: 'And then?', previous_response_id: id });
        expect(continued.status).toBe(400);
        expect(continued.body.error).toMatchObject({
          param: 'previous_response_id',
          code: 'invalid_value',
          message: expect.stringContaining('still in progress'),
        });
        expect(stack.fake.conversationRequests()).toHaveLength(1);
        // Leaving the loop closes the connection: the stream is cancelled.
        break;
      }

      await waitFor(async () => (await get(id)).body.status !== 'in_progress');
      expect((await client.responses.retrieve(id)).status).toBe('cancelled');
    });

    it('stays deleted when it is deleted while it runs', async () => {
      const replace = jest.spyOn(stack.app.get(ResponseStore), 'replace');
      try {
        stack.fake.enqueue({ kind: 'stall', text: 'Half of it, then silence.', afterChunks: 1, stallMs: 60_000 });
        const stream = await client.responses.create({ model: 'gpt-4o', input: 'Take your time.', stream: true });
        let id = '';
        for await (const event of stream) {
          if (event.type !== 'response.created') continue;
          id = event.response.id;
          const deleted = await request(stack.url).delete(`/v1/responses/${id}`).set('authorization', `Bearer ${token}`);
          expect(deleted.body).toEqual({ id, object: 'response', deleted: true });
          break;
        }
        // The outcome (cancelled) finds the response gone and does not bring it back.
        await waitFor(() => Promise.resolve(replace.mock.results.length > 0));
        await expect(replace.mock.results[0].value).resolves.toBe(false);
        expect((await get(id)).status).toBe(404);
      } finally {
        replace.mockRestore();
      }
    });
  });

  describe('previous_response_id', () => {
    it('continues the same upstream conversation from the answer it ended with', async () => {
      stack.fake.enqueue({ kind: 'text', text: 'Nice to meet you, Ada.' });
      const first = await client.responses.create({ model: 'gpt-4o', input: 'My name is Ada.' });
      stack.fake.enqueue({ kind: 'text', text: 'Your name is Ada.' });
      const second = await client.responses.create({ model: 'gpt-4o', input: 'What is my name?', previous_response_id: first.id });
      expect(second.previous_response_id).toBe(first.id);
      expect(second.output_text).toBe('Your name is Ada.');

      const continued = sent(1);
      expect(sent(0).conversation_id).toBeUndefined();
      expect(continued.conversation_id).toEqual(expect.any(String));
      // Only the new turn goes up: the upstream already holds the earlier ones.
      expect(continued.messages.map(textOf)).toEqual(['What is my name?']);
      const detail = await request(stack.fake.url)
        .get(`/backend-api/conversation/${continued.conversation_id}`)
        .set('authorization', `Bearer ${token}`);
      expect(detail.status).toBe(200);
      const mapping = detail.body.mapping as Record<
        string,
        { message?: { author: { role: string }; content: { parts?: unknown[] } }; parent?: string }
      >;
      const parent = mapping[continued.parent_message_id];
      expect(parent.message?.author.role).toBe('assistant');
      expect(parent.message?.content.parts).toEqual(['Nice to meet you, Ada.']);
      const texts = Object.values(mapping).map((node) => (node.message?.content.parts ?? []).join(''));
      expect(texts).toEqual(expect.arrayContaining(['My name is Ada.', 'Nice to meet you, Ada.', 'What is my name?', 'Your name is Ada.']));

      // The chain goes on from the second answer, also when streamed.
      stack.fake.enqueue({ kind: 'text', text: 'Still Ada.' });
      const third = await client.responses.stream({ model: 'gpt-4o', input: 'And now?', previous_response_id: second.id }).finalResponse();
      expect(third.output_text).toBe('Still Ada.');
      expect(sent(2).conversation_id).toBe(continued.conversation_id);
      const after = await request(stack.fake.url)
        .get(`/backend-api/conversation/${continued.conversation_id}`)
        .set('authorization', `Bearer ${token}`);
      expect(after.body.mapping[sent(2).parent_message_id].message.content.parts).toEqual(['Your name is Ada.']);
    });

    it('counts the whole context a continuation runs on in input_tokens, as OpenAI does', async () => {
      stack.fake.enqueue({ kind: 'text', text: 'Noted: a long list of fruit.' });
      const first = await client.responses.create({ model: 'gpt-4o', input: `Remember this list: ${'apple banana cherry '.repeat(200)}` });
      const alone = await client.responses.create({ model: 'gpt-4o', input: 'What was the first word?' });
      stack.fake.enqueue({ kind: 'text', text: 'Apple.' });
      const second = await client.responses.create({ model: 'gpt-4o', input: 'What was the first word?', previous_response_id: first.id });
      expect(second.usage!.input_tokens).toBe(first.usage!.total_tokens + alone.usage!.input_tokens);
      expect(second.usage!.total_tokens).toBe(second.usage!.input_tokens + second.usage!.output_tokens);

      // The chain adds up, also when streamed.
      const third = await client.responses
        .stream({ model: 'gpt-4o', input: 'What was the first word?', previous_response_id: second.id })
        .finalResponse();
      expect(third.usage!.input_tokens).toBe(second.usage!.total_tokens + alone.usage!.input_tokens);
    });

    it('belongs to the key that created it: another key gets 404 before any upstream work', async () => {
      const first = await client.responses.create({ model: 'gpt-4o', input: 'secret' });
      const otherToken = stack.fake.createAccessToken();
      const other = stack.openai(otherToken);
      await expect(other.responses.retrieve(first.id)).rejects.toMatchObject({ status: 404, code: 'not_found' });
      const continued = await post({ model: 'gpt-4o', input: 'next', previous_response_id: first.id }, otherToken);
      expect(continued.status).toBe(404);
      expect(continued.body.error).toMatchObject({
        type: 'invalid_request_error',
        code: 'previous_response_not_found',
        param: 'previous_response_id',
      });
      expect(stack.fake.conversationRequests()).toHaveLength(1);
      // The owner still has it.
      expect((await client.responses.retrieve(first.id)).id).toBe(first.id);
    });

    it('belongs to the workspace it ran in: the same token in another workspace neither sees nor continues it', async () => {
      const teamA = 'c0ffee00-aaaa-4bbb-8ccc-ddddeeeeffff';
      const teamB = 'c0ffee00-1111-4222-8333-444455556666';
      const inA = stack.openai(token, { defaultHeaders: { 'ChatGPT-Account-ID': teamA } });
      const first = await inA.responses.create({ model: 'gpt-4o', input: 'Team A notes' });
      expect(stack.fake.conversationRequests()[0].headers['chatgpt-account-id']).toBe(teamA);

      const inB = stack.openai(token, { defaultHeaders: { 'ChatGPT-Account-ID': teamB } });
      for (const elsewhere of [inB, client]) {
        await expect(elsewhere.responses.retrieve(first.id)).rejects.toMatchObject({ status: 404, code: 'not_found' });
        await expect(elsewhere.responses.create({ model: 'gpt-4o', input: 'next', previous_response_id: first.id })).rejects.toMatchObject({
          status: 404,
          code: 'previous_response_not_found',
        });
        await expect(elsewhere.responses.delete(first.id)).rejects.toMatchObject({ status: 404 });
      }
      expect(stack.fake.conversationRequests()).toHaveLength(1);

      // The workspace written into the key is the same workspace as the header.
      const keyed = stack.openai(`${token},${teamA}`);
      expect((await keyed.responses.retrieve(first.id)).id).toBe(first.id);
      stack.fake.enqueue({ kind: 'text', text: 'Continued in A.' });
      const next = await inA.responses.create({ model: 'gpt-4o', input: 'next', previous_response_id: first.id });
      expect(next.output_text).toBe('Continued in A.');
      expect(stack.fake.conversationRequests()[1].headers['chatgpt-account-id']).toBe(teamA);
    });
  });

  describe('function calling', () => {
    it('is incomplete, not a failure, when max_output_tokens cuts a function call', async () => {
      stack.fake.enqueue({
        kind: 'text',
        text: '<tool_calls>\n[{"name": "get_weather", "arguments": {"city": "Paris, the long way"}}]\n</tool_calls>',
      });
      const response = await client.responses.create({ model: 'gpt-4o', tools: [weatherTool], input: 'Weather?', max_output_tokens: 5 });
      expect(response.status).toBe('incomplete');
      expect(response.incomplete_details).toEqual({ reason: 'max_output_tokens' });
      expect(response.output.some((item) => item.type === 'function_call')).toBe(false);
      expect(JSON.stringify(response.output)).not.toContain('tool_calls');
      expect(stack.fake.conversationRequests()).toHaveLength(1);
    });

    it('returns function_call items and takes function_call_output back, through previous_response_id', async () => {
      stack.fake.enqueue(toolResponder());
      const first = await client.responses.create({
        model: 'gpt-4o',
        tools: [weatherTool],
        input: 'say Let me check.\ncall get_weather {"city": "Paris"}',
      });
      expect(first.status).toBe('completed');
      expect(first.output.map((item) => item.type)).toEqual(['message', 'function_call']);
      expect(first.output_text).toContain('Let me check.');
      const call = first.output[1] as OpenAI.Responses.ResponseFunctionToolCall;
      expect(call).toEqual({
        type: 'function_call',
        id: expect.stringMatching(/^fc_/),
        call_id: expect.stringMatching(/^call_[A-Za-z0-9]{24}$/),
        name: 'get_weather',
        arguments: '{"city":"Paris"}',
        status: 'completed',
      });
      expect(first.tools).toEqual([{ ...weatherTool }]);
      expect(JSON.stringify(first.output)).not.toContain('<tool_calls>');

      stack.fake.enqueue(toolResponder());
      const second = await client.responses.create({
        model: 'gpt-4o',
        tools: [weatherTool],
        previous_response_id: first.id,
        input: [{ type: 'function_call_output', call_id: call.call_id, output: '{"temp": 21}' }],
      });
      expect(second.output_text).toBe('The tools answered: {"temp": 21}.');
      const results = sent(1)
        .messages.filter((m) => m.author.role === 'user')
        .map(textOf);
      expect(results).toEqual([`<tool_result call_id="${call.call_id}" name="get_weather">\n{"temp": 21}\n</tool_result>`]);
      expect(sent(1).conversation_id).toEqual(expect.any(String));
    });

    it('takes the whole history as items without previous_response_id (stateless round trip)', async () => {
      stack.fake.enqueue(toolResponder());
      const input: OpenAI.Responses.ResponseInput = [{ role: 'user', content: 'call get_weather {"city": "Oslo"}' }];
      const first = await client.responses.create({ model: 'gpt-4o', tools: [weatherTool], tool_choice: 'required', input, store: false });
      const call = first.output.find((item): item is OpenAI.Responses.ResponseFunctionToolCall => item.type === 'function_call')!;
      stack.fake.enqueue(toolResponder());
      const second = await client.responses.create({
        model: 'gpt-4o',
        tools: [weatherTool],
        input: [
          ...input,
          ...(first.output as OpenAI.Responses.ResponseInputItem[]),
          { type: 'function_call_output', call_id: call.call_id, output: [{ type: 'input_text', text: 'sunny' }] },
        ],
      });
      expect(second.output_text).toBe('The tools answered: sunny.');
      const messages = sent(1)
        .messages.filter((m) => m.author.role !== 'system')
        .map(textOf);
      expect(messages[1]).toContain('<tool_calls>');
      expect(messages[1]).toContain('"name":"get_weather"');
      expect(messages[2]).toBe(`<tool_result call_id="${call.call_id}" name="get_weather">\nsunny\n</tool_result>`);
    });

    it('streams function calls as argument deltas', async () => {
      stack.fake.enqueue(toolResponder());
      const stream = await client.responses.create({
        model: 'gpt-4o',
        tools: [weatherTool],
        input: 'call get_weather {"city": "A city with a rather long name, to need several chunks"}',
        stream: true,
      });
      const events: OpenAI.Responses.ResponseStreamEvent[] = [];
      for await (const event of stream) events.push(event);
      const types = events.map((event) => event.type);
      expect(types.slice(0, 3)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added']);
      expect(types.filter((type) => type === 'response.function_call_arguments.delta').length).toBeGreaterThan(1);
      expect(types.slice(-3)).toEqual(['response.function_call_arguments.done', 'response.output_item.done', 'response.completed']);
      expect(types).not.toContain('response.output_text.delta');
      const done = events.find(
        (event) => event.type === 'response.function_call_arguments.done',
      ) as OpenAI.Responses.ResponseFunctionCallArgumentsDoneEvent;
      expect(JSON.parse(done.arguments)).toEqual({ city: 'A city with a rather long name, to need several chunks' });
      const final = (events.at(-1) as OpenAI.Responses.ResponseCompletedEvent).response;
      expect(final.output).toEqual([
        expect.objectContaining({ type: 'function_call', name: 'get_weather', arguments: done.arguments, status: 'completed' }),
      ]);
    });

    it('keeps the text answer of a corrective round after the text the first round showed, stream or not', async () => {
      const broken = 'Let me check.\n<tool_calls>\n[{"name":"get_weather","arguments":{"town":"Paris"}}]\n</tool_calls>';
      stack.fake.enqueue({ kind: 'text', text: broken, chunks: 6 });
      stack.fake.enqueue({ kind: 'text', text: 'Which city do you mean?' });
      const whole = await client.responses.create({ model: 'gpt-4o', tools: [weatherTool], input: 'Weather?' });
      expect(whole.output_text).toBe('Let me check.\n\nWhich city do you mean?');

      stack.fake.enqueue({ kind: 'text', text: broken, chunks: 6 });
      stack.fake.enqueue({ kind: 'text', text: 'Which city do you mean?' });
      const stream = client.responses.stream({ model: 'gpt-4o', tools: [weatherTool], input: 'Weather?' });
      let deltas = '';
      for await (const event of stream) if (event.type === 'response.output_text.delta') deltas += event.delta;
      expect(deltas).toBe('Let me check.\n\nWhich city do you mean?');
      expect((await stream.finalResponse()).output_text).toBe(deltas);
    });

    it('fails a stream whose corrective round the upstream refuses with the refusal, as a chat stream reports it', async () => {
      const broken = 'Let me check.\n<tool_calls>\n[{"name":"get_weather","arguments":{"town":"Paris"}}]\n</tool_calls>';
      stack.fake.enqueue({ kind: 'text', text: broken, chunks: 6 });
      stack.fake.enqueue({ kind: 'status', status: 429, body: { detail: 'Too many requests in 1 hour. Try again later.' } });
      const stream = await client.responses.create({ model: 'gpt-4o', tools: [weatherTool], input: 'Weather?', stream: true });
      const events: OpenAI.Responses.ResponseStreamEvent[] = [];
      for await (const event of stream) events.push(event);
      const last = events.at(-1) as OpenAI.Responses.ResponseFailedEvent;
      expect(last.type).toBe('response.failed');
      expect(last.response.error).toEqual({ code: 'rate_limit_exceeded', message: expect.stringContaining('rate limit') });
      expect(last.response.error!.message).toContain('Too many requests in 1 hour');
    });

    it('names input when the upstream refuses a corrective round as too long, stream or not', async () => {
      const broken = 'Let me check.\n<tool_calls>\n[{"name":"get_weather","arguments":{"town":"Paris"}}]\n</tool_calls>';
      stack.fake.enqueue({ kind: 'text', text: broken, chunks: 6 });
      stack.fake.enqueue({ kind: 'status', status: 413, body: { detail: 'Conversation too long' } });
      const whole = await post({ model: 'gpt-4o', tools: [weatherTool], input: 'Weather?' });
      expect(whole.status).toBe(400);
      expect(whole.body.error).toMatchObject({ type: 'invalid_request_error', code: 'context_length_exceeded', param: 'input' });

      stack.fake.enqueue({ kind: 'text', text: broken, chunks: 6 });
      stack.fake.enqueue({ kind: 'status', status: 413, body: { detail: 'Conversation too long' } });
      const stream = await client.responses.create({ model: 'gpt-4o', tools: [weatherTool], input: 'Weather?', stream: true });
      const events: OpenAI.Responses.ResponseStreamEvent[] = [];
      for await (const event of stream) events.push(event);
      const last = events.at(-1) as OpenAI.Responses.ResponseFailedEvent;
      expect(last.type).toBe('response.failed');
      expect(last.response.error!.message).toContain('too long');
      expect(JSON.stringify(last)).not.toContain('messages');
    });

    it('never splits a surrogate pair between two argument deltas', async () => {
      // '{"city":"' is 9 units: the emoji's high surrogate is unit 47, the last of the first 48-unit piece.
      const city = `${'a'.repeat(38)}😀 and more`;
      stack.fake.enqueue({ kind: 'text', text: `<tool_calls>\n[{"name":"get_weather","arguments":{"city":"${city}"}}]\n</tool_calls>` });
      const stream = await client.responses.create({ model: 'gpt-4o', tools: [weatherTool], input: 'Weather?', stream: true });
      const deltas: string[] = [];
      for await (const event of stream) if (event.type === 'response.function_call_arguments.delta') deltas.push(event.delta);
      expect(deltas.join('')).toBe(JSON.stringify({ city }));
      expect(deltas.length).toBeGreaterThan(1);
      for (const delta of deltas) expect(delta).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
    });
  });

  describe('structured output', () => {
    it('answers text.format json_schema with JSON valid against the schema', async () => {
      stack.fake.enqueue(jsonResponder({ fenced: true }));
      const response = await client.responses.create({
        model: 'gpt-4o',
        input: 'Who is it?',
        text: { format: { type: 'json_schema', name: 'person', schema: personSchema, strict: true } },
      });
      expect(JSON.parse(response.output_text)).toEqual({ name: 'Paris', age: 21 });
      expect(response.text).toEqual({ format: { type: 'json_schema', name: 'person', schema: personSchema, strict: true } });
      const system = sent(0)
        .messages.filter((m) => m.author.role === 'system')
        .map(textOf)
        .join('\n');
      expect(system).toContain('# Answer format');
      expect(system).toContain('"age"');

      stack.fake.enqueue(jsonResponder());
      const object = await client.responses.create({ model: 'gpt-4o', input: 'Any JSON', text: { format: { type: 'json_object' } } });
      expect(JSON.parse(object.output_text)).toEqual({ answer: 'ok' });
    });
  });

  describe('JSON schemas declaring their dialect', () => {
    it('takes text.format and function tools with $schema 2020-12, as zod 4 writes them', async () => {
      const $schema = 'https://json-schema.org/draft/2020-12/schema';
      stack.fake.enqueue(jsonResponder());
      const answer = await client.responses.create({
        model: 'gpt-4o',
        input: 'Who?',
        text: { format: { type: 'json_schema', name: 'person', schema: { $schema, ...personSchema } } },
      });
      expect(Object.keys(JSON.parse(answer.output_text) as object)).toEqual(['name', 'age']);

      stack.fake.enqueue(toolResponder());
      const called = await client.responses.create({
        model: 'gpt-4o',
        input: 'call get_weather {"city": "Oslo"}',
        tools: [{ ...weatherTool, parameters: { $schema, ...weatherTool.parameters } }],
      });
      expect(called.output.find((item) => item.type === 'function_call')).toMatchObject({
        name: 'get_weather',
        arguments: '{"city":"Oslo"}',
      });
    });
  });

  describe('storage', () => {
    it('retrieves a stored response as it was returned', async () => {
      const created = await client.responses.create({ model: 'gpt-4o', input: 'keep me' });
      const retrieved = await client.responses.retrieve(created.id);
      expect(retrieved).toEqual(created);
    });

    it('lists the input items of a stored response, paged as the SDK pages them, only for its owner', async () => {
      const input = [
        { role: 'user' as const, content: 'First question' },
        { role: 'assistant' as const, content: 'First answer' },
        { type: 'message' as const, role: 'user' as const, content: [{ type: 'input_text' as const, text: 'Second question' }] },
      ];
      const created = await client.responses.stream({ model: 'gpt-4o', input }).finalResponse();
      const newestFirst = await client.responses.inputItems.list(created.id);
      expect(newestFirst.data.map((item) => item.type === 'message' && item.content[0])).toEqual([
        { type: 'input_text', text: 'Second question' },
        { type: 'output_text', text: 'First answer' },
        { type: 'input_text', text: 'First question' },
      ]);
      expect(newestFirst.data[0]).toMatchObject({ id: expect.stringMatching(/^msg_/), type: 'message', role: 'user', status: 'completed' });

      // The SDK follows `after` = the last id while `has_more` holds, one item a page.
      const pages: string[][] = [];
      for await (const page of (await client.responses.inputItems.list(created.id, { order: 'asc', limit: 1 })).iterPages())
        pages.push(page.data.map((item) => item.id));
      expect(pages.flat()).toEqual(newestFirst.data.map((item) => item.id).reverse());
      expect(pages).toHaveLength(3);

      const other = stack.openai(stack.fake.createAccessToken());
      await expect(other.responses.inputItems.list(created.id)).rejects.toMatchObject({ status: 404, code: 'not_found' });
      const badLimit = await request(stack.url)
        .get(`/v1/responses/${created.id}/input_items?limit=0`)
        .set('authorization', `Bearer ${token}`);
      expect(badLimit.status).toBe(400);
      expect(badLimit.body.error).toMatchObject({ type: 'invalid_request_error', param: 'limit' });
    });

    it('refuses to replay a stored response as a stream, with a 400 the SDK reads', async () => {
      const created = await client.responses.create({ model: 'gpt-4o', input: 'keep me' });
      const error = (await client.responses.retrieve(created.id, { stream: true }).then(
        () => Promise.reject(new Error('expected an error')),
        (thrown: unknown) => thrown,
      )) as InstanceType<typeof OpenAI.BadRequestError>;
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect(error.error).toMatchObject({ type: 'invalid_request_error', code: 'unsupported_value', param: 'stream' });
    });

    it("deletes a stored response for the key that made it, answering OpenAI's deletion object", async () => {
      const created = await client.responses.create({ model: 'gpt-4o', input: 'delete me' });
      const otherKey = await request(stack.url)
        .delete(`/v1/responses/${created.id}`)
        .set('authorization', `Bearer ${stack.fake.createAccessToken()}`);
      expect(otherKey.status).toBe(404);
      expect((await client.responses.retrieve(created.id)).id).toBe(created.id);

      const deleted = await request(stack.url).delete(`/v1/responses/${created.id}`).set('authorization', `Bearer ${token}`);
      expect(deleted.status).toBe(200);
      expect(deleted.body).toEqual({ id: created.id, object: 'response', deleted: true });
      await expect(client.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      await expect(client.responses.delete(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      const continued = await post({ model: 'gpt-4o', input: 'next', previous_response_id: created.id });
      expect(continued.status).toBe(404);

      const again = await client.responses.create({ model: 'gpt-4o', input: 'delete me too' });
      await client.responses.delete(again.id);
      await expect(client.responses.retrieve(again.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    });

    it('still answers, stream or not, when the store does not take the finished response (only its later retrieval is lost)', async () => {
      const save = jest
        .spyOn(stack.app.get(ResponseStore), 'save')
        .mockRejectedValue(new StoreUnavailableError('Redis at redis://cache:6379', new Error('Command timed out')));
      try {
        stack.fake.enqueue({ kind: 'text', text: 'Answered all the same.' });
        const created = await post({ model: 'gpt-4o', input: 'store away' });
        expect({ status: created.status, outcome: created.body.status, text: created.body.output?.[0]?.content?.[0]?.text }).toEqual({
          status: 200,
          outcome: 'completed',
          text: 'Answered all the same.',
        });

        stack.fake.enqueue({ kind: 'text', text: 'Streamed all the same.', chunks: 3 });
        const streamed = await post({ model: 'gpt-4o', input: 'store away', stream: true });
        const events = sseEvents(streamed.text);
        expect(events.at(-1)?.[0]).toBe('response.completed');
        expect(events.at(-1)?.[1]).toMatchObject({
          response: { status: 'completed', output: [{ content: [{ text: 'Streamed all the same.' }] }] },
        });
      } finally {
        save.mockRestore();
      }
    });

    it('does not keep store:false responses', async () => {
      const created = await client.responses.create({ model: 'gpt-4o', input: 'forget me', store: false });
      expect((created as unknown as { store: boolean }).store).toBe(false);
      const missing = await request(stack.url).get(`/v1/responses/${created.id}`).set('authorization', `Bearer ${token}`);
      expect(missing.status).toBe(404);
      expect(missing.body).toEqual({
        error: { message: `Response with id '${created.id}' not found.`, type: 'invalid_request_error', param: null, code: 'not_found' },
      });
      const continued = await post({ model: 'gpt-4o', input: 'next', previous_response_id: created.id });
      expect(continued.status).toBe(404);
    });
  });

  describe('the HTTP edge', () => {
    it.each([
      ['no input', { model: 'gpt-4o' }, 'input', 'missing_required_parameter'],
      ['an empty item list', { input: [] }, 'input', 'invalid_value'],
      ['a hosted tool', { input: 'x', tools: [{ type: 'web_search' }] }, 'tools[0].type', 'invalid_value'],
      [
        'a tool without a name',
        { input: 'x', tools: [{ type: 'function', parameters: {} }] },
        'tools[0].name',
        'missing_required_parameter',
      ],
      [
        'a broken parameters schema',
        { input: 'x', tools: [{ type: 'function', name: 'f', parameters: { type: 'nonsense' } }] },
        'tools[0].parameters',
        'invalid_value',
      ],
      [
        'tool_choice naming no tool',
        { input: 'x', tools: [weatherTool], tool_choice: { type: 'function', name: 'other' } },
        'tool_choice',
        'invalid_value',
      ],
      [
        'json_schema without a schema',
        { input: 'x', text: { format: { type: 'json_schema', name: 'p' } } },
        'text.format.schema',
        'missing_required_parameter',
      ],
      ['a zero max_output_tokens', { input: 'x', max_output_tokens: 0 }, 'max_output_tokens', 'invalid_value'],
      ['metadata that is not strings', { input: 'x', metadata: { n: 1 } }, 'metadata', 'invalid_value'],
      ['background mode', { input: 'x', background: true }, 'background', 'invalid_value'],
      ['an unknown role', { input: [{ role: 'tool', content: 'x' }] }, 'input[0].role', 'invalid_value'],
      ['an unknown item', { input: [{ type: 'web_search_call', id: 'ws_1' }] }, 'input[0].type', 'unsupported_input_item'],
      [
        'an image by the id of no uploaded file',
        { input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file-1' }] }] },
        'input[0].content[0].file_id',
        'invalid_value',
      ],
      [
        'a function result without call_id',
        { input: [{ type: 'function_call_output', output: 'x' }] },
        'input[0].call_id',
        'missing_required_parameter',
      ],
      [
        'a function call without its arguments',
        { input: [{ type: 'function_call', call_id: 'call_1', name: 'get_weather' }], tools: [weatherTool] },
        'input[0].arguments',
        'missing_required_parameter',
      ],
      [
        'a function call without its name',
        { input: [{ type: 'function_call', call_id: 'call_1', arguments: '{}' }], tools: [weatherTool] },
        'input[0].name',
        'missing_required_parameter',
      ],
      [
        'file_data that is not a data: URL',
        { input: [{ role: 'user', content: [{ type: 'input_file', file_data: 'aGVsbG8=' }] }] },
        'input[0].content[0].file_data',
        'invalid_value',
      ],
      [
        'an image that is not base64, after instructions',
        {
          instructions: 'Be brief.',
          input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'data:image/png;base64,@@@' }] }],
        },
        'input[0].content[0].image_url',
        'invalid_base64',
      ],
      [
        'file_data that is not base64, after instructions',
        {
          instructions: 'Be brief.',
          input: [
            {
              role: 'user',
              content: [
                { type: 'input_text', text: 'Read this.' },
                { type: 'input_file', file_data: 'data:text/plain;base64,@@@', filename: 'a.txt' },
              ],
            },
          ],
        },
        'input[0].content[1].file_data',
        'invalid_base64',
      ],
      [
        'a file_url that is not http(s), after two function calls made one chat message',
        {
          instructions: 'Be brief.',
          input: [
            { type: 'function_call', call_id: 'call_1', name: 'a', arguments: '{}' },
            { type: 'function_call', call_id: 'call_2', name: 'b', arguments: '{}' },
            { role: 'user', content: [{ type: 'input_file', file_url: 'ftp://files.example.com/a.pdf' }] },
          ],
        },
        'input[2].content[0].file_url',
        'invalid_value',
      ],
      [
        'an image URL on a private address',
        { input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'http://127.0.0.1/cat.png' }] }] },
        'input[0].content[0].image_url',
        'invalid_image_url',
      ],
      [
        'a content part that is a bare string',
        { input: [{ role: 'user', content: [{ type: 'input_text', text: 'Look:' }, 'a cat'] }] },
        'input[0].content[1]',
        'invalid_value',
      ],
      ['a content part that is null', { input: [{ role: 'user', content: [null] }] }, 'input[0].content[0]', 'invalid_value'],
      [
        'a content part without a type',
        { input: [{ role: 'user', content: [{ text: 'hi' }] }] },
        'input[0].content[0].type',
        'missing_required_parameter',
      ],
      [
        'a function result part that is a bare string',
        { input: [{ type: 'function_call_output', call_id: 'call_1', output: ['sunny'] }] },
        'input[0].output[0]',
        'invalid_value',
      ],
    ])('400 with the field in param for %s, before any upstream work', async (_name, body, param, code) => {
      const response = await post({ model: 'gpt-4o', ...body });
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({ type: 'invalid_request_error', param, code });
      expect(stack.fake.conversationRequests()).toHaveLength(0);
    });

    it.each([false, true])(
      'names input, the field it has, when the upstream refuses the conversation as too long (stream: %s)',
      async (streamed) => {
        stack.fake.enqueue({ kind: 'status', status: 413, body: { detail: 'Conversation too long' } });
        const response = await post({ model: 'gpt-4o', input: 'A very long story.', stream: streamed });
        expect(response.status).toBe(400);
        expect(response.body.error).toMatchObject({ type: 'invalid_request_error', code: 'context_length_exceeded', param: 'input' });
      },
    );

    it('takes an empty tools list, which the Responses API accepts (unlike chat completions) and echoes back', async () => {
      stack.fake.enqueue({ kind: 'text', text: 'No tools needed.' });
      const response = await post({ model: 'gpt-4o', input: 'hi', tools: [] });
      expect([response.status, response.body.tools, response.body.output?.[0]?.content?.[0]?.text]).toEqual([200, [], 'No tools needed.']);
    });

    it('needs an API key, answers CORS preflights and refuses non-JSON bodies like the rest of /v1', async () => {
      const anonymous = await request(stack.url).post('/v1/responses').send({ input: 'x' });
      expect(anonymous.status).toBe(401);
      expect(anonymous.body.error.code).toBe('invalid_api_key');
      const anonymousGet = await request(stack.url).get('/v1/responses/resp_x');
      expect(anonymousGet.status).toBe(401);

      const preflight = await request(stack.url)
        .options('/v1/responses')
        .set('origin', 'https://app.example')
        .set('access-control-request-method', 'POST');
      expect(preflight.status).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe('*');
      expect(preflight.headers['access-control-allow-methods']).toContain('DELETE');

      const form = await request(stack.url).post('/v1/responses').set('authorization', `Bearer ${token}`).type('form').send('input=x');
      expect(form.status).toBe(415);
    });

    it('lives under API_PREFIX when one is set', async () => {
      const prefixed = await startStack({ env: { API_PREFIX: 'secret-prefix' } });
      try {
        const key = prefixed.fake.createAccessToken();
        const created = await prefixed
          .openai(key, { baseURL: `${prefixed.url}/secret-prefix/v1` })
          .responses.create({ model: 'gpt-4o', input: 'hi' });
        expect(created.status).toBe('completed');
        const bare = await request(prefixed.url).post('/v1/responses').set('authorization', `Bearer ${key}`).send({ input: 'hi' });
        expect(bare.status).toBe(404);
      } finally {
        await prefixed.close();
      }
    });
  });
});

describe('Responses API previous_response_id with a pool key (issue 13)', () => {
  const POOL_KEY = 'pool-key-responses';
  let stack: Stack;
  let tokens: string[];

  beforeAll(async () => {
    stack = await startStack({ env: { AUTHORIZATION: POOL_KEY, RANDOM_TOKEN: 'false', AUTO_SEED: 'false' } });
  });
  afterAll(() => stack.close());
  beforeEach(async () => {
    stack.fake.reset();
    const pool = poolServicesOf(stack.app);
    await pool.admin.clear();
    tokens = [stack.fake.createAccessToken(), stack.fake.createAccessToken(), stack.fake.createAccessToken()];
    await pool.admin.upload(tokens);
  });

  /** Which pool account (A, B, C) and conversation each conversation request went to, in order. */
  const seen = () =>
    stack.fake.conversationRequests().map((request) => ({
      account: 'ABC'[tokens.indexOf(String(request.headers.authorization).replace(/^Bearer /, ''))] ?? 'unknown',
      conversationId: (request.body as SentBody).conversation_id,
    }));

  /** A chain of a first response and `turns` continuations, each from the one before. */
  const chain = async (apiKey: string, turns: number) => {
    const client = stack.openai(apiKey);
    let previous = await client.responses.create({ model: 'gpt-4o', input: 'Remember 7.' });
    for (let turn = 0; turn < turns; turn++) {
      stack.fake.enqueue({ kind: 'text', text: `Turn ${turn}: still 7.` });
      const next = await client.responses.create({ model: 'gpt-4o', input: 'What number?', previous_response_id: previous.id });
      expect(next.output_text).toBe(`Turn ${turn}: still 7.`);
      previous = next;
    }
    return previous;
  };

  it('runs every continuation on the pool account that holds the conversation, while other requests rotate', async () => {
    const last = await chain(POOL_KEY, 4);
    const requests = seen();
    expect(requests).toHaveLength(5);
    const owner = requests[0].account;
    expect(requests.map((request) => request.account)).toEqual(Array(5).fill(owner));
    const conversationId = requests[1].conversationId;
    expect(conversationId).toEqual(expect.any(String));
    expect(requests.slice(1).map((request) => request.conversationId)).toEqual(Array(4).fill(conversationId));

    // Round-robin goes on for requests that are not continuations, also streamed continuations stay put.
    await stack.openai(POOL_KEY).responses.create({ model: 'gpt-4o', input: 'Unrelated.' });
    expect(seen()[5].account).not.toBe(owner);
    await stack.openai(POOL_KEY).responses.stream({ model: 'gpt-4o', input: 'And now?', previous_response_id: last.id }).finalResponse();
    expect(seen()[6]).toEqual({ account: owner, conversationId });
  });

  it('answers 409 previous_response_unavailable, without trying another account, once that account left the pool', async () => {
    const last = await chain(POOL_KEY, 1);
    const owner = tokens['ABC'.indexOf(seen()[0].account)];
    expect(await poolServicesOf(stack.app).admin.remove(accountIdFor(owner))).toBe(true);
    stack.fake.reset();

    const continued = await request(stack.url)
      .post('/v1/responses')
      .set('authorization', `Bearer ${POOL_KEY}`)
      .send({ model: 'gpt-4o', input: 'What number?', previous_response_id: last.id });
    expect(continued.status).toBe(409);
    expect(continued.body.error).toMatchObject({
      type: 'invalid_request_error',
      code: 'previous_response_unavailable',
      param: 'previous_response_id',
    });
    expect(continued.body.error.message).toContain('start a new conversation');
    expect(stack.fake.conversationRequests()).toHaveLength(0);
    // The SDK sees the same error; a new conversation still works on the remaining accounts.
    await expect(
      stack.openai(POOL_KEY).responses.create({ model: 'gpt-4o', input: 'x', previous_response_id: last.id }),
    ).rejects.toMatchObject({
      status: 409,
      code: 'previous_response_unavailable',
    });
    await expect(stack.openai(POOL_KEY).responses.create({ model: 'gpt-4o', input: 'Fresh start.' })).resolves.toMatchObject({
      status: 'completed',
    });
  });

  it('keeps a seed used as a key on its bound account through previous_response_id', async () => {
    const seed = await poolServicesOf(stack.app).seeds.createSeed();
    await chain(seed, 3);
    const requests = seen();
    expect(new Set(requests.map((request) => request.account)).size).toBe(1);
    expect(requests[0].account).not.toBe('unknown');
    expect(new Set(requests.slice(1).map((request) => request.conversationId)).size).toBe(1);
  });
});

describe.each(['think', 'hidden'])('Responses API with REASONING_OUTPUT=%s (a chat completions setting)', (mode) => {
  let stack: Stack;
  let client: OpenAI;

  beforeAll(async () => {
    stack = await startStack({ env: { REASONING_OUTPUT: mode } });
    client = stack.openai(stack.fake.createAccessToken({ plan: 'plus' }));
  });
  afterAll(() => stack.close());
  beforeEach(() => {
    stack.fake.reset();
    stack.fake.enqueue({
      kind: 'reasoning',
      thoughts: [{ summary: 'Planning', content: 'Consider the question.' }],
      seconds: 3,
      text: 'The answer is 42.',
    });
  });

  const expectReasoningItem = (response: OpenAI.Responses.Response) => {
    expect(response.output.map((item) => item.type)).toEqual(['reasoning', 'message']);
    expect((response.output[0] as OpenAI.Responses.ResponseReasoningItem).summary[0].text).toContain('Consider the question.');
    expect(response.output_text).toBe('The answer is 42.');
    expect(response.usage!.output_tokens_details.reasoning_tokens).toBeGreaterThan(0);
  };

  it('still returns the thoughts as a reasoning item, never in output_text', async () => {
    expectReasoningItem(await client.responses.create({ model: 'o1', input: 'q' }));
  });

  it('still streams the thoughts as a reasoning item, never in output_text deltas', async () => {
    const stream = client.responses.stream({ model: 'o1', input: 'q' });
    let streamedText = '';
    stream.on('response.output_text.delta', (event) => (streamedText += event.delta));
    expectReasoningItem(await stream.finalResponse());
    expect(streamedText).toBe('The answer is 42.');
  });

  it('leaves chat completions to the setting', async () => {
    const completion = await client.chat.completions.create({ model: 'o1', messages: [{ role: 'user', content: 'q' }] });
    const message = completion.choices[0].message as { content: string | null; reasoning_content?: string };
    expect(message.reasoning_content).toBeUndefined();
    if (mode === 'think')
      expect(message.content).toMatch(/^<think>\n[\s\S]*Consider the question\.[\s\S]*\n<\/think>\n\nThe answer is 42\.$/);
    else expect(message.content).toBe('The answer is 42.');
  });
});
