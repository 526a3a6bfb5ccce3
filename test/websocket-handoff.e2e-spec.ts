import OpenAI from 'openai';
import { devControlRoutes } from './fake-upstream/dev-controls';
import { Stack, startStack } from './support/stack';

jest.setTimeout(120_000);

const LONG_TEXT = 'Thinking models answer through the socket, one word after another, until the whole turn has arrived safely.';

async function waitFor(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not met in time: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function streamText(
  stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>,
): Promise<{ text: string; contentChunks: number }> {
  let text = '';
  let contentChunks = 0;
  for await (const chunk of stream) {
    const content = chunk.choices[0]?.delta.content;
    if (content) {
      text += content;
      contentChunks++;
    }
  }
  return { text, contentChunks };
}

describe('WebSocket hand-off of thinking turns (gateway-live-ui.md §4.5)', () => {
  let stack: Stack;
  let token: string;

  beforeAll(async () => {
    stack = await startStack({ env: { RETRY_TIMES: '1' } });
    token = stack.fake.createAccessToken();
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.fake.reset());

  it('answers a thinking model through the socket (non-stream)', async () => {
    stack.fake.enqueue({ kind: 'text', text: LONG_TEXT });
    const completion = await stack.openai(token).chat.completions.create({ model: 'o3', messages: [{ role: 'user', content: 'think' }] });

    expect(completion.choices[0].message.content).toBe(LONG_TEXT);
    expect(completion.choices[0].finish_reason).toBe('stop');
    const { stats } = stack.fake.handoff;
    expect(stats.urlFetches).toBe(1);
    expect(stats.socketsOpened).toBe(1);
    expect(stats.subscriptions).toHaveLength(1);
    expect(stats.subscriptions[0]).toMatch(/^conversation-turn-[0-9a-f-]{36}$/);
    expect(stats.resumes).toEqual([]);
    expect(stack.fake.conversationRequests()).toHaveLength(1);
    // The turn is over: we close the socket ourselves.
    await waitFor(() => stack.fake.handoff.stats.closedByClient === 1, 'the finished turn closes its socket');
    expect(stack.fake.handoff.stats.closedByClientMidTurn).toBe(0);
  });

  it('streams a thinking model through the socket, chunk by chunk', async () => {
    stack.fake.enqueue({ kind: 'text', text: LONG_TEXT });
    const stream = await stack
      .openai(token)
      .chat.completions.create({ model: 'gpt-5-thinking', stream: true, messages: [{ role: 'user', content: 'think' }] });
    const { text, contentChunks } = await streamText(stream);

    expect(text).toBe(LONG_TEXT);
    expect(contentChunks).toBeGreaterThan(5);
    expect(stack.fake.handoff.stats.socketsOpened).toBe(1);
  });

  it('leaves ordinary models on the HTTP stream', async () => {
    const completion = await stack.openai(token).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    expect(completion.choices[0].message.content).toBe('Hello! How can I help you today?');
    expect(stack.fake.handoff.stats.urlFetches).toBe(0);
  });

  it('resumes a turn whose socket drops, and the client gets every word exactly once (stream)', async () => {
    stack.fake.handoff.cutNextSocket(6);
    stack.fake.enqueue({ kind: 'text', text: LONG_TEXT });
    const stream = await stack
      .openai(token)
      .chat.completions.create({ model: 'o3', stream: true, messages: [{ role: 'user', content: 'think' }] });
    const { text } = await streamText(stream);

    expect(text).toBe(LONG_TEXT);
    const { stats } = stack.fake.handoff;
    expect(stats.cutByFake).toBe(1);
    expect(stats.resumes).toHaveLength(1);
    expect(stats.resumes[0].offset).toBe(6);
    expect(stack.fake.conversationRequests()).toHaveLength(1);
  });

  it('resumes a dropped socket for a non-stream answer too (the cut asked for on the dev control route)', async () => {
    stack.fake.useControlRoutes(devControlRoutes(stack.fake));
    const control = await fetch(`${stack.fake.url}/_fake/handoff`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ cutAfterItems: 4 }),
    });
    expect(control.status).toBe(201);
    stack.fake.enqueue({ kind: 'text', text: LONG_TEXT });
    const completion = await stack.openai(token).chat.completions.create({ model: 'o3', messages: [{ role: 'user', content: 'think' }] });
    expect(completion.choices[0].message.content).toBe(LONG_TEXT);
    expect(stack.fake.handoff.stats.cutByFake).toBe(1);
    expect(stack.fake.handoff.stats.resumes.map((resume) => resume.offset)).toEqual([4]);
  });

  it('ends the stream with an in-band error when the socket drops and resume is refused', async () => {
    stack.fake.handoff.cutNextSocket(6);
    stack.fake.handoff.refuseResume(5);
    stack.fake.enqueue({ kind: 'text', text: LONG_TEXT });
    const stream = await stack
      .openai(token)
      .chat.completions.create({ model: 'o3', stream: true, messages: [{ role: 'user', content: 'think' }] });
    let text = '';
    const error = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })().catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).message).toMatch(/could not be resumed.*tokenless_resume_unavailable/);
    expect(text.length).toBeGreaterThan(0);
    expect(LONG_TEXT.startsWith(text)).toBe(true);
  });

  it('closes the socket when the client goes away during a hand-off', async () => {
    stack.fake.enqueue({ kind: 'text', text: LONG_TEXT, delayMs: 150 });
    const controller = new AbortController();
    const stream = await stack
      .openai(token)
      .chat.completions.create(
        { model: 'o3', stream: true, messages: [{ role: 'user', content: 'think slowly' }] },
        { signal: controller.signal },
      );
    const gone = (async () => {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content) controller.abort();
      }
    })().catch((caught: unknown) => caught);
    await gone;

    await waitFor(() => stack.fake.handoff.stats.closedByClientMidTurn === 1, 'the fake sees the socket closed mid-turn');
    expect(stack.fake.handoff.stats.cutByFake).toBe(0);
    expect(stack.fake.handoff.stats.resumes).toEqual([]);
  });

  it('answers a clear OpenAI-style error when the socket URL cannot be fetched', async () => {
    stack.fake.handoff.failUrlFetch(503, 10);
    stack.fake.enqueue({ kind: 'text', text: LONG_TEXT });
    const error = await stack
      .openai(token)
      .chat.completions.create({ model: 'o3', messages: [{ role: 'user', content: 'think' }] })
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(OpenAI.APIError);
    const apiError = error as InstanceType<typeof OpenAI.APIError>;
    expect(apiError.status).toBe(502);
    expect(apiError.code).toBe('upstream_websocket_failed');
    expect(apiError.type).toBe('upstream_error');
    expect(apiError.message).toMatch(/WebSocket, which could not be opened \(handoff\): celsius\/ws\/user answered 503/);
    expect(stack.fake.handoff.stats.socketsOpened).toBe(0);
  });
});
