import OpenAI from 'openai';
import request from 'supertest';
import { expectCutStreamEnded, sseData, Stack, startStack, waitFor } from './support/stack';

const ask = (content: string) => ({ model: 'gpt-4o', messages: [{ role: 'user' as const, content }] });

describe('chat API under failure, load and bad input', () => {
  let stack: Stack;
  let token: string;

  beforeAll(async () => {
    stack = await startStack({ env: { MAX_BODY_SIZE: '64kb', KEEPALIVE_INTERVAL_MS: '1000' } });
    token = stack.fake.createAccessToken();
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.fake.reset());

  it('ends a stream the upstream cuts with an error event and [DONE], never hanging', async () => {
    // Paced like a real answer, so the text before the cut reaches us before the connection drops.
    const paced = await startStack({ fake: { chunkDelayMs: 15 } });
    try {
      const pacedToken = paced.fake.createAccessToken();
      paced.fake.enqueue({ kind: 'cut', text: 'This answer will be cut off in the middle of it', afterChunks: 3 });
      const pacedStream = await paced.openai(pacedToken).chat.completions.create({ ...ask('cut'), stream: true });
      let pacedText = '';
      const pacedError = await (async () => {
        for await (const chunk of pacedStream) pacedText += chunk.choices[0]?.delta.content ?? '';
      })().catch((caught: unknown) => caught);
      expect(pacedError).toBeInstanceOf(OpenAI.APIError);
      expect(pacedText.length).toBeGreaterThan(0);
      expect('This answer will be cut off in the middle of it'.startsWith(pacedText)).toBe(true);
      expect(pacedText).not.toBe('This answer will be cut off in the middle of it');
    } finally {
      await paced.close();
    }
  });

  it('never answers a bare 500 or hangs when the upstream drops the connection', async () => {
    stack.fake.enqueue({ kind: 'cut', text: 'This answer will be cut off in the middle of it', afterChunks: 3 });
    const stream = await stack.openai(token).chat.completions.create({ ...ask('cut'), stream: true });
    let text = '';
    const error = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })().catch((caught: unknown) => caught);
    // Either the cut came before the answer started (retried on a fresh conversation) or after (an in-band error).
    if (error) expect(error).toBeInstanceOf(OpenAI.APIError);
    else expect(text).toBe('Hello! How can I help you today?');

    stack.fake.enqueue({ kind: 'cut', text: 'Cut again right here please', afterChunks: 2 });
    const raw = await request(stack.url)
      .post('/v1/chat/completions')
      .set('authorization', `Bearer ${token}`)
      .send({ ...ask('cut'), stream: true });
    expectCutStreamEnded(raw.text);
  });

  it('reports an upstream error event mid-stream in-band', async () => {
    stack.fake.enqueue({ kind: 'error_event', text: 'Partial answer', message: 'Something went wrong upstream' });
    const raw = await request(stack.url)
      .post('/v1/chat/completions')
      .set('authorization', `Bearer ${token}`)
      .send({ ...ask('err'), stream: true });
    const data = sseData(raw.text);
    expect(data.at(-1)).toBe('[DONE]');
    expect(JSON.parse(data.at(-2)!).error).toMatchObject({
      message: expect.stringContaining('Something went wrong'),
      type: 'upstream_error',
      param: null,
      code: 'upstream_stream_error',
    });
  });

  it('aborts the upstream request when the client disconnects', async () => {
    stack.fake.enqueue({ kind: 'stall', text: 'Slow answer that stalls', afterChunks: 2, stallMs: 10_000 });
    const controller = new AbortController();
    const stream = await stack.openai(token).chat.completions.create({ ...ask('stall'), stream: true }, { signal: controller.signal });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    controller.abort();
    await waitFor(() => stack.fake.abortedStreams === 1);
    expect(stack.fake.openStreams).toBe(0);
  });

  it('keeps an idle stream alive with SSE comments', async () => {
    stack.fake.enqueue({ kind: 'stall', text: 'Thinking then answering', afterChunks: 1, stallMs: 2_600 });
    const raw = await request(stack.url)
      .post('/v1/chat/completions')
      .set('authorization', `Bearer ${token}`)
      .send({ ...ask('slow'), stream: true });
    expect(raw.text).toContain(': keep-alive\n\n');
    const data = sseData(raw.text);
    expect(data.at(-1)).toBe('[DONE]');
    expect(
      data
        .slice(0, -1)
        .map((payload) => JSON.parse(payload).choices[0].delta.content ?? '')
        .join(''),
    ).toBe('Thinking then answering');
  });

  it('serves 50 concurrent streams, each reassembling its own answer', async () => {
    const client = stack.openai(token);
    for (let i = 0; i < 50; i++) stack.fake.enqueue({ kind: 'text', text: `Answer number ${i} is here.`, chunks: 5, delayMs: 5 });
    const texts = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const stream = await client.chat.completions.create({ ...ask(`q${i}`), stream: true });
        let text = '';
        let finish: string | null = null;
        for await (const chunk of stream) {
          text += chunk.choices[0]?.delta.content ?? '';
          finish = chunk.choices[0]?.finish_reason ?? finish;
        }
        expect(finish).toBe('stop');
        return text;
      }),
    );
    const expected = Array.from({ length: 50 }, (_, i) => `Answer number ${i} is here.`).sort();
    expect([...texts].sort()).toEqual(expected);
    await waitFor(() => stack.fake.openStreams === 0);
  });

  it('reuses keep-alive connections to the upstream across answers', async () => {
    const client = stack.openai(token);
    await client.chat.completions.create(ask('warm'));
    const before = stack.fake.connections;
    for (let i = 0; i < 5; i++) {
      const stream = await client.chat.completions.create({ ...ask(`s${i}`), stream: true });
      for await (const chunk of stream) void chunk;
      await client.chat.completions.create(ask(`j${i}`));
    }
    expect(stack.fake.connections - before).toBeLessThanOrEqual(1);
  });

  it('retries an upstream 5xx before the first byte and then answers', async () => {
    stack.fake.enqueue({ kind: 'status', status: 502, body: { detail: 'Bad gateway' } });
    stack.fake.enqueue({ kind: 'text', text: 'Recovered.' });
    const completion = await stack.openai(token).chat.completions.create(ask('retry'));
    expect(completion.choices[0].message.content).toBe('Recovered.');
    expect(stack.fake.conversationRequests()).toHaveLength(2);
  });

  it('maps upstream refusals to OpenAI errors: 429 with Retry-After, Cloudflare challenge, JSON instead of a stream', async () => {
    // A token of its own: the model cap it hits is remembered (ENABLE_LIMIT) and would refuse later tests.
    const cappedToken = stack.fake.createAccessToken();
    stack.fake.enqueue({
      kind: 'status',
      status: 429,
      body: { detail: { message: 'You have hit the limit', clears_in: 42, code: 'model_cap_exceeded' } },
    });
    const limited = await request(stack.url).post('/v1/chat/completions').set('authorization', `Bearer ${cappedToken}`).send(ask('x'));
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('42');
    expect(limited.body.error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_exceeded' });

    // Retried with the back-off: the next attempt may leave by another route (host, sentinel proxy).
    for (let i = 0; i < 4; i++) stack.fake.enqueue({ kind: 'cf_challenge' });
    const challenged = await request(stack.url).post('/v1/chat/completions').set('authorization', `Bearer ${token}`).send(ask('x'));
    expect(challenged.status).toBe(403);
    expect(challenged.body.error).toMatchObject({ type: 'upstream_error', code: 'cf_challenge' });

    for (let i = 0; i < 4; i++) stack.fake.enqueue({ kind: 'json_instead_of_stream', body: { detail: 'nope' } });
    const notStreaming = await request(stack.url).post('/v1/chat/completions').set('authorization', `Bearer ${token}`).send(ask('x'));
    expect(notStreaming.status).toBe(502);
    expect(notStreaming.body.error).toMatchObject({ type: 'upstream_error', code: 'upstream_not_streaming' });
  });

  it('answers an upstream 413 (conversation too long) with 400 context_length_exceeded, without retrying', async () => {
    const before = stack.fake.conversationRequests().length;
    stack.fake.enqueue({ kind: 'status', status: 413, body: { detail: 'Conversation too long' } });
    const tooLong = await request(stack.url).post('/v1/chat/completions').set('authorization', `Bearer ${token}`).send(ask('x'));
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error).toMatchObject({ type: 'invalid_request_error', code: 'context_length_exceeded', param: 'messages' });
    expect(tooLong.body.error.message).toContain('Conversation too long');
    expect(stack.fake.conversationRequests().length - before).toBe(1);
  });

  describe('malformed requests get 400s that name the field', () => {
    const post = (body: string | object, contentType = 'application/json') =>
      request(stack.url)
        .post('/v1/chat/completions')
        .set('authorization', `Bearer ${token}`)
        .set('content-type', contentType)
        .send(typeof body === 'string' ? body : JSON.stringify(body));

    it.each(['{"model": "gpt-4o", "messages": [', '5', 'null', '[{"model": "gpt-4o"}]', '[]'])(
      'refuses a body that is not a JSON object (%s)',
      async (body) => {
        const response = await post(body);
        expect(response.status).toBe(400);
        expect(response.body).toEqual({
          error: { message: expect.stringContaining('JSON'), type: 'invalid_request_error', param: null, code: 'invalid_json' },
        });
      },
    );

    it.each([
      [{ model: 'gpt-4o' }, 'messages', 'missing_required_parameter'],
      [{ model: 'gpt-4o', messages: [] }, 'messages', 'invalid_value'],
      [{ model: 'gpt-4o', messages: 'hi' }, 'messages', 'invalid_value'],
      [{ model: 'gpt-4o', messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role', 'invalid_value'],
      [{ model: 'gpt-4o', messages: [{ role: 'user', content: 42 }] }, 'messages[0].content', 'invalid_value'],
      [{ model: 'gpt-4o', messages: [{ role: 'user', content: [] }] }, 'messages[0].content', 'invalid_value'],
      [{ model: 'gpt-4o', messages: [{ role: 'user', content: null }] }, 'messages[0].content', 'missing_required_parameter'],
      [
        { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }], 'Chatgpt-Account-Id': 'a\r\nX-Evil: 1' },
        'Chatgpt-Account-Id',
        'invalid_value',
      ],
      [{ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }], stream: 'yes' }, 'stream', 'invalid_value'],
      [{ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }], max_tokens: 'ten' }, 'max_tokens', 'invalid_value'],
      [{ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }], n: 2 }, 'n', 'invalid_value'],
      [{ model: 7, messages: [{ role: 'user', content: 'x' }] }, 'model', 'invalid_value'],
      [
        { model: 'gpt-4o', messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] },
        'messages[0].content[0].type',
        'unsupported_content',
      ],
      [
        {
          model: 'gpt-4o',
          messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,@@@not-base64' } }] }],
        },
        'messages[0].content[0].image_url.url',
        'invalid_base64',
      ],
    ])('%j → 400 on %s', async (body, param, code) => {
      const response = await post(body);
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({ type: 'invalid_request_error', param, code });
      expect(typeof response.body.error.message).toBe('string');
    });

    it.each([
      [{ model: 'gpt-4o', messages: 'hi' }, /array/],
      [{ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }], max_tokens: '10' }, /integer/],
    ])('names the wrong type first: %j', async (body, wording) => {
      const response = await post(body);
      expect(response.status).toBe(400);
      expect(response.body.error.message).toMatch(wording);
    });

    it('refuses a body that is not sent as JSON with 415 instead of ignoring it', async () => {
      const response = await post(JSON.stringify(ask('x')), 'text/plain');
      expect(response.status).toBe(415);
      expect(response.body.error).toMatchObject({ type: 'invalid_request_error', code: 'unsupported_media_type' });
    });

    it('refuses an empty bearer at once, without calling the upstream', async () => {
      const response = await request(stack.url).post('/v1/chat/completions').set('authorization', 'Bearer ').send(ask('x'));
      expect(response.status).toBe(401);
      expect(response.body.error.code).toBe('invalid_api_key');
      expect(stack.fake.requests).toHaveLength(0);
    });

    it('refuses an oversized body with 413', async () => {
      const response = await post({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x'.repeat(100 * 1024) }] });
      expect(response.status).toBe(413);
      expect(response.body.error).toMatchObject({ type: 'invalid_request_error', code: 'request_too_large' });
      // A streamed request is refused before any stream starts: the same JSON error, never an SSE frame.
      const streamed = await post({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'x'.repeat(100 * 1024) }] });
      expect(streamed.status).toBe(413);
      expect(streamed.headers['content-type']).toMatch(/^application\/json/);
      expect(streamed.body).toEqual({
        error: {
          message: 'The request body is too large: more than 65536 bytes (MAX_BODY_SIZE).',
          type: 'invalid_request_error',
          param: null,
          code: 'request_too_large',
        },
      });
    });

    it('accepts the fields clients send by default and ignores unknown ones', async () => {
      const response = await post({
        ...ask('defaults'),
        temperature: 1,
        top_p: 1,
        presence_penalty: 0,
        frequency_penalty: 0,
        user: 'u',
        seed: 3,
        stop: ['\n\n'],
        logit_bias: {},
        response_format: { type: 'text' },
        tools: [{ type: 'function', function: { name: 'f', parameters: {} } }],
        tool_choice: 'auto',
        max_tokens: null,
        some_future_field: { anything: true },
      });
      expect(response.status).toBe(200);
      expect(response.body.choices[0].message.content).toBe('Hello! How can I help you today?');
    });

    it('answers unknown /v1 paths with a 404 in the error shape', async () => {
      const response = await request(stack.url).get('/v1/engines').set('authorization', `Bearer ${token}`);
      expect(response.status).toBe(404);
      expect(response.body.error).toMatchObject({
        type: 'invalid_request_error',
        code: 'unknown_url',
        message: 'Unknown request URL: GET /v1/engines.',
      });
    });
  });

  it('retries an event stream with no message before [DONE], and never passes it off as an empty success', async () => {
    // Once: the next attempt answers.
    stack.fake.enqueue({ kind: 'no_answer' });
    const retried = await request(stack.url).post('/v1/chat/completions').set('authorization', `Bearer ${token}`).send(ask('hello'));
    expect(retried.status).toBe(200);
    expect(retried.body.choices[0].message.content).toBe('Hello! How can I help you today?');
    expect(stack.fake.conversationRequests()).toHaveLength(2);

    // On every attempt (RETRY_TIMES=3: four of them): a 502 that says so, before any stream has started.
    const noAnswerEver = () => {
      for (let i = 0; i < 4; i++) stack.fake.enqueue({ kind: 'no_answer' });
    };
    noAnswerEver();
    const whole = await request(stack.url).post('/v1/chat/completions').set('authorization', `Bearer ${token}`).send(ask('hello'));
    expect(whole.status).toBe(502);
    expect(whole.body.error).toMatchObject({ type: 'upstream_error', code: 'upstream_no_answer' });
    noAnswerEver();
    const streamed = await request(stack.url)
      .post('/v1/chat/completions')
      .set('authorization', `Bearer ${token}`)
      .send({ ...ask('hello'), stream: true });
    expect(streamed.status).toBe(502);
    expect(streamed.text).not.toContain('finish_reason');
    noAnswerEver();
    const response = await request(stack.url)
      .post('/v1/responses')
      .set('authorization', `Bearer ${token}`)
      .send({ model: 'gpt-4o', input: 'hi' });
    expect(response.status).toBe(502);
    expect(stack.fake.pendingScenarios).toBe(0);
  });

  it('answers health checks without a key', async () => {
    const response = await request(stack.url).get('/healthz');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ok' });
  });

  it('answers CORS preflight for browser clients', async () => {
    const response = await request(stack.url)
      .options('/v1/chat/completions')
      .set('origin', 'https://chat.example.com')
      .set('access-control-request-method', 'POST')
      .set('access-control-request-headers', 'authorization, content-type, auth_key');
    expect(response.status).toBe(204);
    expect(response.headers['access-control-allow-origin']).toBe('*');
    expect(response.headers['access-control-allow-headers']).toContain('auth_key');
    expect(response.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('allows in a CORS preflight every header the openai SDK sends, its stream helpers included', async () => {
    const sent = new Set<string>();
    const client = new OpenAI({
      apiKey: token,
      baseURL: `${stack.url}/v1`,
      fetch: (url, init) => {
        new Headers(init?.headers).forEach((_value, name) => sent.add(name));
        return fetch(url, init);
      },
    });
    await client.chat.completions.stream(ask('hi')).finalChatCompletion();
    await client.responses.stream({ model: 'gpt-4o', input: 'hi' }).finalResponse();
    // What a browser lets a page set without a preflight, or sets itself.
    const browserOwn = new Set(['accept', 'accept-language', 'content-language', 'user-agent', 'content-length']);
    const names = [...sent].filter((name) => !browserOwn.has(name));
    expect(names).toEqual(expect.arrayContaining(['authorization', 'content-type', 'x-stainless-helper-method']));
    // And one a later SDK may add.
    names.push('x-stainless-some-future-header');
    const preflight = await request(stack.url)
      .options('/v1/responses')
      .set('origin', 'https://chat.example.com')
      .set('access-control-request-method', 'POST')
      .set('access-control-request-headers', names.join(', '));
    expect(preflight.status).toBe(204);
    const allowed = String(preflight.headers['access-control-allow-headers']).split(/,\s*/);
    expect(names.filter((name) => !allowed.includes(name))).toEqual([]);
    // Anything else the preflight names is not echoed.
    const other = await request(stack.url)
      .options('/v1/responses')
      .set('origin', 'https://chat.example.com')
      .set('access-control-request-method', 'POST')
      .set('access-control-request-headers', 'x-evil, cookie');
    expect(String(other.headers['access-control-allow-headers'])).not.toMatch(/x-evil|cookie/);
  });
});
