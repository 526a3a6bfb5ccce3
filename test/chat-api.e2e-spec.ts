import { encode } from 'gpt-tokenizer/cjs/encoding/o200k_base';
import OpenAI from 'openai';
import request from 'supertest';
import { TokenCounter } from '../src/chat/token-counter';
import { poolServicesOf } from '../src/token-pool/testing/pool-services';
import modelTable from '../src/chat/models/model-table.json';
import { sseData, Stack, startStack } from './support/stack';

describe('OpenAI-compatible chat API (official SDK against the fake upstream)', () => {
  let stack: Stack;
  let accessToken: string;

  beforeAll(async () => {
    stack = await startStack({ env: { AUTHORIZATION: 'pool-key-1', RANDOM_TOKEN: 'false' } });
    accessToken = stack.fake.createAccessToken({ email: 'alice@example.com' });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.fake.reset());

  it('lists models in the OpenAI list shape', async () => {
    const page = await stack.openai(accessToken).models.list();
    const ids = page.data.map((model) => model.id);
    expect(ids).toEqual(expect.arrayContaining(['gpt-4o', 'gpt-4o-mini', 'o1']));
    expect(ids).not.toContain('auto');
    for (const model of page.data)
      expect(model).toEqual({ id: expect.any(String), object: 'model', created: expect.any(Number), owned_by: expect.any(String) });
  });

  it("answers 200 with the static table (the mapping file's list) when the upstream refuses to list the account's models (a revoked token), never an error page", async () => {
    const revoked = stack.fake.createAccessToken();
    stack.fake.revokeAccessToken(revoked);
    const response = await request(stack.url).get('/v1/models').set('authorization', `Bearer ${revoked}`);
    expect(response.status).toBe(200);
    expect(response.body.object).toBe('list');
    expect(response.body.data.map((model: { id: string }) => model.id)).toEqual(modelTable.listed);
    expect(stack.fake.requests.filter((r) => r.path === '/backend-api/models')).toHaveLength(1);
  });

  it("asks a Team workspace for its own models, not the list cached for the user's own workspace", async () => {
    const modelCalls = () => stack.fake.requests.filter((r) => r.path === '/backend-api/models');
    const teamMember = stack.fake.createAccessToken({ email: 'team.member@example.com' });
    await stack.openai(teamMember).models.list();
    await stack.openai(teamMember).models.list();
    expect(modelCalls()).toHaveLength(1);
    await stack.openai(`${teamMember},c0ffee00-1111-4222-8333-444455556666`).models.list();
    expect(modelCalls()).toHaveLength(2);
    expect(modelCalls()[1].headers['chatgpt-account-id']).toBe('c0ffee00-1111-4222-8333-444455556666');
  });

  it('sends every model /v1/models lists upstream as that slug, and maps only API names the web lacks', async () => {
    const free = stack.fake.createAccessToken({ persona: 'chatgpt-freeaccount' });
    const client = stack.openai(free);
    const listed = (await client.models.list()).data.map((model) => model.id);
    expect(listed).toEqual(expect.arrayContaining(['gpt-5', 'o4-mini']));
    const expected: [requested: string, slug: string][] = [
      ...listed.map((id): [string, string] => [id, id]),
      ['gpt-4-5', 'gpt-4-5'],
      ['gpt-4o-2024-08-06', 'gpt-4o'],
      ['gpt-3.5-turbo', 'text-davinci-002-render-sha'],
      ['claude-3', 'gpt-4o'],
    ];
    for (const [model] of expected) {
      const completion = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
      expect(completion.model).toBe(model);
    }
    const sent = stack.fake.conversationRequests().map((request) => (request.body as { model: string }).model);
    expect(sent).toEqual(expected.map(([, slug]) => slug));
  });

  it('answers a non-stream completion with usage and the echoed model', async () => {
    stack.fake.enqueue({ kind: 'text', text: 'Hello there, friend!' });
    const completion = await stack.openai(accessToken).chat.completions.create({
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Say hello' },
      ],
      temperature: 0.2,
      user: 'someone',
    });
    expect(completion.id).toMatch(/^chatcmpl-[A-Za-z0-9]{29}$/);
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('gpt-4o');
    expect(completion).not.toHaveProperty('system_fingerprint');
    expect(completion.choices).toEqual([
      { index: 0, message: { role: 'assistant', content: 'Hello there, friend!' }, logprobs: null, finish_reason: 'stop' },
    ]);
    expect(completion.usage!.prompt_tokens).toBeGreaterThan(10);
    const answerTokens = encode('Hello there, friend!').length;
    expect(completion.usage!.completion_tokens).toBe(answerTokens);
    expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + answerTokens);

    const [sent] = stack.fake.conversationRequests();
    const body = sent.body as { model: string; messages: { author: { role: string }; content: { parts: string[] } }[] };
    expect(body.model).toBe('gpt-4o');
    expect(body.messages.map((message) => [message.author.role, message.content.parts[0]])).toEqual([
      ['system', 'Be brief.'],
      ['user', 'Say hello'],
    ]);
    expect(sent.headers.authorization).toBe(`Bearer ${accessToken}`);
    expect(sent.headers['openai-sentinel-proof-token']).toMatch(/^gAAAAAB/);
  });

  it('streams chunks that reassemble the answer exactly, with one id and a final finish_reason', async () => {
    const text = 'Streaming works: héllo wörld, 你好, and emoji 🚀 — done.';
    stack.fake.enqueue({ kind: 'text', text, chunks: 12 });
    const stream = await stack.openai(accessToken).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'stream please' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);

    expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1);
    expect(new Set(chunks.map((chunk) => chunk.created)).size).toBe(1);
    expect(
      chunks.every(
        (chunk) => chunk.model === 'gpt-4o-mini' && !('system_fingerprint' in chunk) && chunk.object === 'chat.completion.chunk',
      ),
    ).toBe(true);
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    const withChoices = chunks.filter((chunk) => chunk.choices.length > 0);
    expect(withChoices.map((chunk) => chunk.choices[0].delta.content ?? '').join('')).toBe(text);
    expect(withChoices.slice(0, -1).every((chunk) => chunk.choices[0].finish_reason === null)).toBe(true);
    expect(withChoices.at(-1)!.choices[0].finish_reason).toBe('stop');
    const usageChunk = chunks.at(-1)!;
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toEqual({
      prompt_tokens: expect.any(Number),
      completion_tokens: expect.any(Number),
      total_tokens: expect.any(Number),
    });
    expect(usageChunk.usage!.completion_tokens).toBeGreaterThan(10);
  });

  it('sends SSE with the headers that stop proxy buffering, ending in [DONE]', async () => {
    const response = await request(stack.url)
      .post('/v1/chat/completions')
      .set('authorization', `Bearer ${accessToken}`)
      .send({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(response.headers['cache-control']).toBe('no-cache');
    expect(response.headers['x-accel-buffering']).toBe('no');
    const data = sseData(response.text);
    expect(data.at(-1)).toBe('[DONE]');
    expect(
      data
        .slice(0, -1)
        .map((payload) => JSON.parse(payload).choices[0].delta.content ?? '')
        .join(''),
    ).toBe('Hello! How can I help you today?');
  });

  it('counts tokens only for answers that show usage: not for a stream without include_usage', async () => {
    const countPrompt = jest.spyOn(stack.app.get(TokenCounter), 'countPrompt');
    try {
      const ask = (fields: Record<string, unknown>) =>
        request(stack.url)
          .post('/v1/chat/completions')
          .set('authorization', `Bearer ${accessToken}`)
          .send({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], ...fields });
      expect(sseData((await ask({ stream: true })).text).at(-1)).toBe('[DONE]');
      expect(countPrompt).not.toHaveBeenCalled();

      const withUsage = sseData((await ask({ stream: true, stream_options: { include_usage: true } })).text);
      expect(JSON.parse(withUsage.at(-2)!).usage.prompt_tokens).toBeGreaterThan(0);
      expect((await ask({})).body.usage.prompt_tokens).toBeGreaterThan(0);
      expect(countPrompt).toHaveBeenCalledTimes(2);
    } finally {
      countPrompt.mockRestore();
    }
  });

  it.each([true, false])('reassembles the same text from the delta and the classic upstream formats (delta=%s)', async (delta) => {
    const other = await startStack({ fake: { deltaEncoding: delta } });
    try {
      const token = other.fake.createAccessToken();
      other.fake.enqueue({ kind: 'text', text: 'One two three four five six.', chunks: 6 });
      const completion = await other
        .openai(token)
        .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'count' }] });
      expect(completion.choices[0].message.content).toBe('One two three four five six.');
      const sent = other.fake.conversationRequests()[0].body as { supported_encodings: string[] };
      expect(sent.supported_encodings).toEqual(['v1']);
    } finally {
      await other.close();
    }
  });

  it('exchanges a RefreshToken used as the API key, once, and reuses the AccessToken', async () => {
    const refreshToken = stack.fake.createRefreshToken();
    const client = stack.openai(refreshToken);
    const first = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'a' }] });
    const second = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'b' }] });
    expect(first.choices[0].message.content).toBe('Hello! How can I help you today?');
    expect(second.choices[0].message.content).toBe('Hello! How can I help you today?');
    expect(stack.fake.oauthExchanges).toBe(1);
    const bearer = stack.fake.conversationRequests()[0].headers.authorization;
    expect(bearer).toMatch(/^Bearer eyJhbGciOi/);
  });

  it('raises APIError 401 in the SDK for an invalid token, and for a revoked RefreshToken', async () => {
    const bad = stack.openai('eyJhbGciOiJSUzI1NiJ9.bm90LWEtcmVhbC10b2tlbg.c2ln');
    await expect(bad.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({
      status: 401,
      error: { type: 'invalid_request_error', code: 'invalid_api_key' },
    });
    const refreshToken = stack.fake.createRefreshToken();
    stack.fake.revokeRefreshToken(refreshToken);
    const error = await stack
      .openai(refreshToken)
      .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(401);
    expect(JSON.stringify((error as InstanceType<typeof OpenAI.APIError>).error)).not.toContain(refreshToken);
  });

  it('answers 502 auth_server_unavailable when the auth server cannot exchange a RefreshToken key (not a 401: the key may be good)', async () => {
    const refreshToken = stack.fake.createRefreshToken();
    stack.fake.failOAuth(503, 100);
    const error = await stack
      .openai(refreshToken)
      .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(error).toMatchObject({ status: 502, error: { type: 'upstream_error', code: 'auth_server_unavailable', param: null } });
    expect(JSON.stringify((error as InstanceType<typeof OpenAI.APIError>).error)).not.toContain(refreshToken);
  });

  it.each([
    ['Authorization without a scheme', 'authorization', (key: string) => key],
    ['X-Authorization without a scheme', 'x-authorization', (key: string) => key],
    ['X-Authorization with Bearer', 'x-authorization', (key: string) => `Bearer ${key}`],
    ['a lower-case scheme and extra spaces', 'authorization', (key: string) => `bearer    ${key}  `],
  ])('reads the key from %s (openai-api.md §2)', async (_name, header, value) => {
    const key = stack.fake.createAccessToken();
    const response = await request(stack.url)
      .post('/v1/chat/completions')
      .set(header, value(key))
      .send({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    expect([response.status, response.body.object]).toEqual([200, 'chat.completion']);
  });

  it('answers 401 without a key, with the OpenAI error shape', async () => {
    const response = await request(stack.url)
      .post('/v1/chat/completions')
      .send({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    expect(response.status).toBe(401);
    expect(response.body).toEqual({
      error: { message: expect.any(String), type: 'invalid_request_error', param: null, code: 'invalid_api_key' },
    });
  });

  it('rotates a pool key past a rate-limited account and records the cool-down', async () => {
    const pool = poolServicesOf(stack.app);
    await pool.admin.clear();
    const limited = stack.fake.createAccessToken({ email: 'limited@example.com' });
    const healthy = stack.fake.createAccessToken({ email: 'healthy@example.com' });
    await pool.admin.upload([limited, healthy]);
    stack.fake.setTokenStatus(limited, 429, { clearsInSec: 120 });

    const client = stack.openai('pool-key-1');
    for (let i = 0; i < 3; i++) {
      const completion = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `q${i}` }] });
      expect(completion.choices[0].message.content).toBe('Hello! How can I help you today?');
    }
    const answered = stack.fake.conversationRequests().map((sent) => sent.headers.authorization);
    expect(answered.filter((bearer) => bearer === `Bearer ${healthy}`)).toHaveLength(3);
    // Strict round-robin hands out the limited account first; it is refused once, then set aside.
    const refused = stack.fake.requests.filter((sent) => sent.headers.authorization === `Bearer ${limited}` && sent.method === 'POST');
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(new Set(refused.map((sent) => sent.path)).size).toBe(1);
    const states = (await pool.readModel.list()).map((account) => account.state).sort();
    expect(states).toEqual(['active', 'rate_limited']);
    await pool.admin.clear();
  });

  it("answers 503 no_available_account when every pooled account is refused, not the last account's 401", async () => {
    const pool = poolServicesOf(stack.app);
    await pool.admin.clear();
    const revoked = stack.fake.createAccessToken({ email: 'revoked@example.com' });
    await pool.admin.upload([revoked]);
    stack.fake.revokeAccessToken(revoked);
    const error = await stack
      .openai('pool-key-1')
      .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ status: 503, error: { type: 'server_error', code: 'no_available_account' } });
    expect((error as Error).message).toContain('1 tried');
    expect((error as Error).message).not.toContain(revoked);
    expect((await pool.readModel.list())[0].state).toBe('disabled');
    await pool.admin.clear();
  });

  it('answers 503 no_available_account when the pool is empty', async () => {
    await poolServicesOf(stack.app).admin.clear();
    await expect(
      stack.openai('pool-key-1').chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toMatchObject({
      status: 503,
      error: { type: 'server_error', code: 'no_available_account' },
    });
  });
});
