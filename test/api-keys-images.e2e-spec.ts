import { encode as encodeCl100k } from 'gpt-tokenizer/cjs/encoding/cl100k_base';
import { encode as encodeO200k } from 'gpt-tokenizer/cjs/encoding/o200k_base';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI, { APIError } from 'openai';
import request from 'supertest';
import { sseData, Stack, startStack } from './support/stack';

jest.setTimeout(120_000);

const POOL_KEY = 'pool-key-for-keys-and-images';
const ADMIN_KEY = 'admin-key-for-keys-and-images';
const FILE_LINK = /\/files\/([A-Za-z0-9_-]{32})/;

/**
 * Issue 13: keys that mean what they say (admin-created seeds, unknown shapes refused locally), models by id
 * and the pool's union, the §13 differences, `/v1/images/generations`, and durable `/files/{id}` links.
 */
describe('API keys, models, images and file links', () => {
  let stack: Stack;
  let token: string;

  beforeAll(async () => {
    stack = await startStack({ env: { AUTHORIZATION: POOL_KEY, ADMIN_KEY, RANDOM_TOKEN: 'false' } });
    token = stack.fake.createAccessToken({ plan: 'plus' });
  });
  afterAll(() => stack.close());
  beforeEach(async () => {
    stack.fake.reset();
    await admin().delete('/admin/api/seeds?all=true').expect(200);
    await admin().delete('/admin/api/tokens').expect(200);
  });

  function admin() {
    const auth = (test: request.Test) => test.set('Authorization', `Bearer ${ADMIN_KEY}`);
    return {
      post: (path: string, body: object = {}) => auth(request(stack.url).post(path)).send(body),
      delete: (path: string) => auth(request(stack.url).delete(path)),
    };
  }
  const ask = (apiKey: string, model = 'gpt-4o') =>
    stack.openai(apiKey).chat.completions.create({ model, messages: [{ role: 'user', content: 'Who answers?' }] });
  const conversationBearers = () => stack.fake.conversationRequests().map((r) => String(r.headers.authorization).replace(/^Bearer /, ''));
  const errorOf = (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error('expected a failure');
      },
      (error: unknown) => error as APIError,
    );

  describe('keys', () => {
    const createSeed = async () => (await admin().post('/admin/api/seeds').expect(201)).body.seed as string;

    it('uses an admin-created seed as a key, bound to its pool account, with AUTO_SEED true and false', async () => {
      const [first, second] = [stack.fake.createAccessToken(), stack.fake.createAccessToken()];
      await admin()
        .post('/admin/api/tokens', { tokens: [first, second] })
        .expect(200);
      const seed = await createSeed();

      for (let i = 0; i < 3; i++) expect((await ask(seed)).choices[0].message.content).toBeTruthy();
      const bearers = conversationBearers();
      expect(new Set(bearers).size).toBe(1);
      expect([first, second]).toContain(bearers[0]);
      expect(bearers[0]).not.toBe(seed);

      await stack.stopApp();
      await stack.restartApp({ AUTHORIZATION: POOL_KEY, ADMIN_KEY, RANDOM_TOKEN: 'false', AUTO_SEED: 'false' });
      try {
        stack.fake.reset();
        await ask(seed);
        expect(conversationBearers()).toEqual([bearers[0]]);
        // AUTO_SEED=false still lets an own AccessToken and the pool key through.
        await ask(token);
        await ask(POOL_KEY);
        const refused = await errorOf(ask('sk-typo'));
        expect(refused.status).toBe(401);
        expect(refused.code).toBe('invalid_api_key');
      } finally {
        await stack.stopApp();
        await stack.restartApp({ AUTHORIZATION: POOL_KEY, ADMIN_KEY, RANDOM_TOKEN: 'false' });
      }
    });

    it.each(['sk-typo', 'not-a-token-at-all', 'eyJnotajwt', 'rt_short', 'x'.repeat(44)])(
      'refuses the key %s locally with 401 naming the accepted shapes',
      async (key) => {
        const chat = await errorOf(ask(key));
        const models = await request(stack.url).get('/v1/models').set('authorization', `Bearer ${key}`);
        expect(chat.status).toBe(401);
        expect(chat.code).toBe('invalid_api_key');
        expect(chat.message).toContain('AccessToken');
        expect(chat.message).toContain('RefreshToken');
        expect(chat.message).toContain('AUTHORIZATION');
        expect(chat.message).toContain('SeedToken created by the admin');
        expect(chat.message).not.toContain(key);
        expect(models.status).toBe(401);
        expect(models.body.error.code).toBe('invalid_api_key');
        expect(stack.fake.requests).toHaveLength(0);
      },
    );

    it('refuses a seed once the admin removed it, without minting it again', async () => {
      await admin()
        .post('/admin/api/tokens', { tokens: [stack.fake.createAccessToken()] })
        .expect(200);
      const seed = await createSeed();
      await ask(seed);
      await admin().delete('/admin/api/seeds?all=true').expect(200);
      stack.fake.reset();
      expect((await errorOf(ask(seed))).status).toBe(401);
      expect(stack.fake.requests).toHaveLength(0);
    });
  });

  describe('models', () => {
    it('retrieves one model by id, GPTs included, and answers 404 model_not_found otherwise', async () => {
      const openai = stack.openai(token);
      expect(await openai.models.retrieve('gpt-4o')).toEqual({
        id: 'gpt-4o',
        object: 'model',
        created: expect.any(Number),
        owned_by: 'openai',
      });
      expect(await openai.models.retrieve('gizmo-g-abc123')).toMatchObject({ id: 'gizmo-g-abc123', object: 'model' });
      const missing = await errorOf(openai.models.retrieve('no-such-model'));
      expect(missing.status).toBe(404);
      expect(missing.error).toEqual({
        message: 'The model `no-such-model` does not exist or you do not have access to it.',
        type: 'invalid_request_error',
        param: 'model',
        code: 'model_not_found',
      });
    });

    it('answers 404 model_not_found for a GPT name the chat route would not take as one, without asking the upstream', async () => {
      const fresh = stack.fake.createAccessToken({ plan: 'plus' });
      const retrieve = (id: string) =>
        request(stack.url)
          .get(`/v1/models/${encodeURIComponent(id)}`)
          .set('authorization', `Bearer ${fresh}`);
      for (const id of ['gizmo-g-', 'gizmo-g-abc.def', 'gizmo-g-abc def', 'gizmo-g-abc ', ' gizmo-g-abc', 'gpt-4-gizmo-g-a.b', 'g-!']) {
        const answer = await retrieve(id);
        expect([id, answer.status, answer.body]).toEqual([
          id,
          404,
          {
            error: {
              message: `The model \`${id}\` does not exist or you do not have access to it.`,
              type: 'invalid_request_error',
              param: 'model',
              code: 'model_not_found',
            },
          },
        ]);
      }
      const gpt = await retrieve('gizmo-g-aBc_9-x');
      expect([gpt.status, gpt.body.id, gpt.body.object]).toEqual([200, 'gizmo-g-aBc_9-x', 'model']);
      expect(stack.fake.requests).toEqual([]);
    });

    it("lists the union of the pool's accounts for the pool key, cached briefly", async () => {
      const [free, paid] = [stack.fake.createAccessToken({ plan: 'free' }), stack.fake.createAccessToken({ plan: 'plus' })];
      await admin()
        .post('/admin/api/tokens', { tokens: [free, paid] })
        .expect(200);
      const modelCalls = () =>
        stack.fake.requests
          .filter((r) => r.path === '/backend-api/models')
          .map((r) => String(r.headers.authorization).replace(/^Bearer /, ''));

      const ids = (await stack.openai(POOL_KEY).models.list()).data.map((model) => model.id);
      expect(new Set(modelCalls())).toEqual(new Set([free, paid]));
      // o1 is offered by the paid account only, gpt-4o-mini by both.
      expect(ids).toEqual(expect.arrayContaining(['o1', 'gpt-4o', 'gpt-4o-mini']));
      expect((await stack.openai(POOL_KEY).models.retrieve('o1')).id).toBe('o1');
      expect(modelCalls()).toHaveLength(2);
    });
  });

  describe('openai-api.md §13', () => {
    it('echoes the requested model unchanged, with no system_fingerprint, whole and streamed', async () => {
      const whole = await stack
        .openai(token)
        .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
      expect(whole.model).toBe('gpt-4o-mini');
      expect(whole).not.toHaveProperty('system_fingerprint');
      const stream = await request(stack.url)
        .post('/v1/chat/completions')
        .set('authorization', `Bearer ${token}`)
        .send({ model: 'gpt-3.5-turbo', stream: true, messages: [{ role: 'user', content: 'hi' }] });
      const chunks = sseData(stream.text)
        .filter((data) => data !== '[DONE]')
        .map((data) => JSON.parse(data) as Record<string, unknown>);
      expect(chunks.length).toBeGreaterThan(1);
      for (const chunk of chunks) {
        expect(chunk.model).toBe('gpt-3.5-turbo');
        expect(chunk).not.toHaveProperty('system_fingerprint');
      }
    });

    it('answers an upstream 413 with 400 context_length_exceeded', async () => {
      stack.fake.enqueue({ kind: 'status', status: 413 });
      const error = await errorOf(ask(token));
      expect(error.status).toBe(400);
      expect(error.error).toMatchObject({ type: 'invalid_request_error', code: 'context_length_exceeded', param: 'messages' });
      expect(stack.fake.conversationRequests()).toHaveLength(1);
    });

    it('answers unknown /v1 routes with unknown_url', async () => {
      const response = await request(stack.url).post('/v1/completions').set('authorization', `Bearer ${token}`).send({ prompt: 'x' });
      expect(response.status).toBe(404);
      expect(response.body.error).toEqual({
        message: 'Unknown request URL: POST /v1/completions.',
        type: 'invalid_request_error',
        param: null,
        code: 'unknown_url',
      });
    });

    it('sends refusal parts of assistant history as text', async () => {
      const completion = await stack.openai(token).chat.completions.create({
        model: 'gpt-4o',
        messages: [
          { role: 'user', content: 'Do the bad thing.' },
          { role: 'assistant', content: [{ type: 'refusal', refusal: 'I cannot help with that.' }] },
          { role: 'user', content: 'Then something else.' },
        ],
      });
      expect(completion.choices[0].message.content).toBeTruthy();
      const body = stack.fake.conversationRequests()[0].body as { messages: { author: { role: string }; content: { parts: string[] } }[] };
      expect(body.messages[1]).toMatchObject({ author: { role: 'assistant' }, content: { parts: ['I cannot help with that.'] } });
    });

    it('accepts refusal parts only in assistant turns, and only with a string refusal, before spending anything upstream', async () => {
      const send = (messages: object[]) =>
        request(stack.url).post('/v1/chat/completions').set('authorization', `Bearer ${token}`).send({ model: 'gpt-4o', messages });
      const fromUser = await send([{ role: 'user', content: [{ type: 'refusal', refusal: 'No.' }] }]);
      expect(fromUser.status).toBe(400);
      expect(fromUser.body.error).toMatchObject({ type: 'invalid_request_error', param: 'messages[0].content[0].type' });
      expect(fromUser.body.error.message).toContain("unsupported content part type 'refusal'");
      const notAString = await send([
        { role: 'user', content: 'Hi.' },
        { role: 'assistant', content: [{ type: 'refusal', refusal: 42 }] },
        { role: 'user', content: 'Again.' },
      ]);
      expect(notAString.status).toBe(400);
      expect(notAString.body.error).toMatchObject({
        type: 'invalid_request_error',
        code: 'invalid_value',
        param: 'messages[1].content[0].refusal',
      });
      expect(stack.fake.conversationRequests()).toHaveLength(0);
    });

    it.each(['gpt-4.1', 'gpt-4.1-mini', 'gpt-5', 'o3', 'o4-mini'])('counts %s with o200k_base', async (model) => {
      const content = 'Über die Brücke gehen zwölf Männer, 日本語のテキストも少し。';
      expect(encodeO200k(content).length).not.toBe(encodeCl100k(content).length);
      const completion = await stack.openai(token).chat.completions.create({ model, messages: [{ role: 'user', content }] });
      expect(completion.usage!.prompt_tokens).toBe(3 + 3 + encodeO200k('user').length + encodeO200k(content).length);
    });
  });

  describe('images', () => {
    it('draws through the image tool and answers a durable url that still downloads after the signed URL expired', async () => {
      stack.fake.enqueue({ kind: 'image', prompt: 'A red fox in the snow, watercolour' });
      const images = await stack.openai(token).images.generate({ model: 'dall-e-3', prompt: 'a fox', size: '1792x1024' });
      expect(images.data).toHaveLength(1);
      const [image] = images.data!;
      expect(image.revised_prompt).toBe('A red fox in the snow, watercolour');
      expect(image.url).toMatch(new RegExp(`^${stack.url}/files/[A-Za-z0-9_-]{32}$`));

      const sent = stack.fake.conversationRequests()[0].body as { model: string; messages: { content: { parts: string[] } }[] };
      expect(sent.model).toBe('gpt-4o');
      expect(sent.messages[0].content.parts[0]).toContain('image generation tool');
      expect(sent.messages[0].content.parts[0]).toContain('1792x1024');
      expect(sent.messages[0].content.parts[0]).toContain('a fox');

      stack.fake.expireDownloadUrls();
      const file = await request(stack.url).get(new URL(image.url!).pathname).buffer(true).expect(200);
      expect(file.headers['content-type']).toBe('image/png');
      expect(Number(file.headers['content-length'])).toBe((file.body as Buffer).length);
      expect((file.body as Buffer).subarray(1, 4).toString('latin1')).toBe('PNG');
      expect(image.url).not.toContain(token.slice(0, 12));
    });

    it('answers b64_json with the image bytes', async () => {
      stack.fake.enqueue({ kind: 'image', prompt: 'A lighthouse' });
      const images = await stack
        .openai(token)
        .images.generate({ model: 'gpt-image-1', prompt: 'a lighthouse', response_format: 'b64_json' });
      const bytes = Buffer.from(images.data![0].b64_json!, 'base64');
      expect(bytes.subarray(1, 4).toString('latin1')).toBe('PNG');
      expect(images.data![0].url).toBeUndefined();
      expect(images.created).toEqual(expect.any(Number));
    });

    it.each(['gpt-image-1', 'gpt-image-1-mini', 'chatgpt-image-latest'])(
      'answers the image bytes by default for the GPT image model %s, as OpenAI does',
      async (model) => {
        stack.fake.enqueue({ kind: 'image', prompt: 'A lighthouse' });
        const images = await stack.openai(token).images.generate({ model, prompt: 'a lighthouse' });
        expect(Buffer.from(images.data![0].b64_json!, 'base64').subarray(1, 4).toString('latin1')).toBe('PNG');
        expect(images.data![0].url).toBeUndefined();
        expect((stack.fake.conversationRequests()[0].body as { model: string }).model).toBe('gpt-4o');
      },
    );

    it('answers the image in the output_format asked for, inline, streamed and behind a link', async () => {
      const typeOf = (bytes: Buffer) =>
        bytes.subarray(1, 4).toString('latin1') === 'PNG'
          ? 'png'
          : bytes[0] === 0xff && bytes[1] === 0xd8
            ? 'jpeg'
            : bytes.subarray(8, 12).toString('latin1') === 'WEBP'
              ? 'webp'
              : 'other';
      for (const output_format of ['jpeg', 'webp', 'png'] as const) {
        stack.fake.enqueue({ kind: 'image', prompt: 'A lighthouse' });
        const images = await stack.openai(token).images.generate({ model: 'gpt-image-1', prompt: 'a lighthouse', output_format });
        expect([output_format, typeOf(Buffer.from(images.data![0].b64_json!, 'base64'))]).toEqual([output_format, output_format]);
        expect(images).toMatchObject({ output_format, size: '1024x1024' });
      }

      stack.fake.enqueue({ kind: 'image', prompt: 'A lighthouse' });
      const stream = await stack
        .openai(token)
        .images.generate({ model: 'gpt-image-1', prompt: 'a lighthouse', stream: true, output_format: 'webp', output_compression: 50 });
      const events: OpenAI.Images.ImageGenStreamEvent[] = [];
      for await (const event of stream) events.push(event);
      const completed = events[0] as OpenAI.Images.ImageGenCompletedEvent;
      expect(completed.output_format).toBe('webp');
      expect(typeOf(Buffer.from(completed.b64_json, 'base64'))).toBe('webp');

      stack.fake.enqueue({ kind: 'image', prompt: 'A lighthouse' });
      const linked = await stack
        .openai(token)
        .images.generate({ model: 'gpt-image-1', prompt: 'a lighthouse', response_format: 'url', output_format: 'jpeg' });
      const file = await request(stack.url).get(new URL(linked.data![0].url!).pathname).buffer(true).expect(200);
      expect(file.headers['content-type']).toBe('image/jpeg');
      expect(typeOf(file.body as Buffer)).toBe('jpeg');
      expect(Number(file.headers['content-length'])).toBe((file.body as Buffer).length);

      // HEAD names the type without downloading and converting the image.
      const storageReads = () => stack.fake.requests.filter((sent) => sent.method === 'GET' && sent.path.startsWith('/download/')).length;
      const readsBefore = storageReads();
      const head = await request(stack.url).head(new URL(linked.data![0].url!).pathname).expect(200);
      expect(head.headers['content-type']).toBe('image/jpeg');
      expect(head.headers['content-length']).toBeUndefined();
      expect(storageReads()).toBe(readsBefore);
    });

    it('refuses an output_format or output_compression OpenAI does not offer, before any upstream work', async () => {
      const gif = await request(stack.url)
        .post('/v1/images/generations')
        .set('authorization', `Bearer ${token}`)
        .send({ model: 'gpt-image-1', prompt: 'x', output_format: 'gif' });
      expect(gif.status).toBe(400);
      expect(gif.body.error).toMatchObject({ type: 'invalid_request_error', param: 'output_format' });
      const compression = await request(stack.url)
        .post('/v1/images/generations')
        .set('authorization', `Bearer ${token}`)
        .send({ model: 'gpt-image-1', prompt: 'x', output_format: 'jpeg', output_compression: 101 });
      expect(compression.status).toBe(400);
      expect(compression.body.error.param).toBe('output_compression');
      expect(stack.fake.conversationRequests()).toHaveLength(0);
    });

    it.each([
      ['quality', 'ultra'],
      ['background', 'striped'],
      ['style', 'baroque'],
      ['moderation', 'off'],
    ])('refuses %s %p, a value no OpenAI image model takes, with 400 naming it, before any upstream work', async (param, value) => {
      const refused = await errorOf(stack.openai(token).images.generate({ model: 'gpt-image-1', prompt: 'x', [param]: value }));
      expect(refused.status).toBe(400);
      expect(refused.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_value', param });
      expect(stack.fake.conversationRequests()).toHaveLength(0);
    });

    it('accepts the quality, background, style and moderation values OpenAI offers', async () => {
      stack.fake.enqueue({ kind: 'image', prompt: 'A fox' });
      const fox = { prompt: 'a fox', quality: 'hd', style: 'natural' } as const;
      expect((await stack.openai(token).images.generate({ model: 'dall-e-3', ...fox })).data).toHaveLength(1);
      stack.fake.enqueue({ kind: 'image', prompt: 'A fox' });
      const gpt = { prompt: 'a fox', quality: 'high', background: 'opaque', moderation: 'low' } as const;
      expect((await stack.openai(token).images.generate({ model: 'gpt-image-1', ...gpt })).data).toHaveLength(1);
    });

    it('still answers a durable url for a GPT image model that asks for one', async () => {
      stack.fake.enqueue({ kind: 'image', prompt: 'A lighthouse' });
      const images = await stack.openai(token).images.generate({ model: 'gpt-image-1', prompt: 'a lighthouse', response_format: 'url' });
      expect(images.data![0].url).toMatch(new RegExp(`^${stack.url}/files/`));
      expect(images.data![0].b64_json).toBeUndefined();
    });

    it('validates like chat: n must be 1, a key is required, response_format is url or b64_json', async () => {
      const many = await errorOf(stack.openai(token).images.generate({ prompt: 'two cats', n: 2 }));
      expect(many.status).toBe(400);
      expect(many.error).toMatchObject({ param: 'n', type: 'invalid_request_error' });
      const format = await request(stack.url)
        .post('/v1/images/generations')
        .set('authorization', `Bearer ${token}`)
        .send({ prompt: 'x', response_format: 'png' });
      expect(format.status).toBe(400);
      expect(format.body.error.param).toBe('response_format');
      const missing = await request(stack.url).post('/v1/images/generations').set('authorization', `Bearer ${token}`).send({});
      expect(missing.body.error).toMatchObject({ code: 'missing_required_parameter', param: 'prompt' });
      const noKey = await request(stack.url).post('/v1/images/generations').send({ prompt: 'x' });
      expect(noKey.status).toBe(401);
      const unknownKey = await errorOf(stack.openai('sk-typo').images.generate({ prompt: 'x' }));
      expect(unknownKey.status).toBe(401);
      expect(stack.fake.requests).toHaveLength(0);
      const preflight = await request(stack.url).options('/v1/images/generations').set('origin', 'https://client.example');
      expect(preflight.status).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe('*');
    });

    it('streams OpenAI image events with stream: true, as the SDK reads them', async () => {
      stack.fake.enqueue({ kind: 'image', prompt: 'A lighthouse' });
      const stream = await stack
        .openai(token)
        .images.generate({ model: 'gpt-image-1', prompt: 'a lighthouse', stream: true, partial_images: 2 });
      const events: OpenAI.Images.ImageGenStreamEvent[] = [];
      for await (const event of stream) events.push(event);
      // The upstream hands out only the finished image: no partial images are made up.
      expect(events.map((event) => event.type)).toEqual(['image_generation.completed']);
      const completed = events[0] as OpenAI.Images.ImageGenCompletedEvent;
      expect(Buffer.from(completed.b64_json, 'base64').subarray(1, 4).toString('latin1')).toBe('PNG');
      expect(completed).toMatchObject({ size: '1024x1024', output_format: 'png', quality: 'auto', background: 'auto' });
      expect(completed.created_at).toEqual(expect.any(Number));
      expect(completed.usage.input_tokens).toBeGreaterThan(0);
      expect(completed.usage).toEqual({
        input_tokens: completed.usage.input_tokens,
        input_tokens_details: { image_tokens: 0, text_tokens: completed.usage.input_tokens },
        output_tokens: 0,
        total_tokens: completed.usage.input_tokens,
      });

      // On the wire: OpenAI's named SSE events; a request without a model streams with a GPT image model, as at OpenAI.
      stack.fake.enqueue({ kind: 'image', prompt: 'A lighthouse' });
      const raw = await request(stack.url)
        .post('/v1/images/generations')
        .set('authorization', `Bearer ${token}`)
        .send({ prompt: 'a lighthouse', stream: true });
      expect(raw.status).toBe(200);
      expect(raw.headers['content-type']).toMatch(/^text\/event-stream/);
      const blocks = raw.text.split('\n\n').filter((block) => block.startsWith('event: '));
      expect(blocks).toHaveLength(1);
      expect(blocks[0]).toMatch(/^event: image_generation\.completed\ndata: \{"type":"image_generation\.completed","b64_json":"/);
    });

    it('refuses stream: true for the DALL·E models and with a url response_format, before any upstream work', async () => {
      const dalle = await errorOf(stack.openai(token).images.generate({ model: 'dall-e-3', prompt: 'a fox', stream: true }));
      expect(dalle.status).toBe(400);
      expect(dalle.error).toMatchObject({ type: 'invalid_request_error', code: 'unsupported_value', param: 'stream' });
      const url = await request(stack.url)
        .post('/v1/images/generations')
        .set('authorization', `Bearer ${token}`)
        .send({ model: 'gpt-image-1', prompt: 'a fox', stream: true, response_format: 'url' });
      expect(url.status).toBe(400);
      expect(url.body.error).toMatchObject({ code: 'invalid_value', param: 'response_format' });
      const partials = await request(stack.url)
        .post('/v1/images/generations')
        .set('authorization', `Bearer ${token}`)
        .send({ model: 'gpt-image-1', prompt: 'a fox', stream: true, partial_images: 4 });
      expect(partials.status).toBe(400);
      expect(partials.body.error.param).toBe('partial_images');
      expect(stack.fake.conversationRequests()).toHaveLength(0);
    });

    it('answers a failure before the upstream answers as JSON, and one while drawing as an error event the SDK throws', async () => {
      stack.fake.enqueue({ kind: 'status', status: 429, body: { detail: 'rate-limit' } });
      const early = await request(stack.url)
        .post('/v1/images/generations')
        .set('authorization', `Bearer ${token}`)
        .send({ model: 'gpt-image-1', prompt: 'a fox', stream: true });
      expect(early.status).toBe(429);
      expect(early.headers['content-type']).toMatch(/^application\/json/);
      expect(early.body.error.code).toBe('rate_limit_exceeded');

      stack.fake.enqueue({ kind: 'text', text: 'I would rather describe a fox in words.' });
      const stream = await stack.openai(token).images.generate({ model: 'gpt-image-1', prompt: 'a fox', stream: true });
      const events: unknown[] = [];
      const failure = await errorOf(
        (async () => {
          for await (const event of stream) events.push(event);
        })(),
      );
      expect(events).toHaveLength(0);
      expect(failure).toBeInstanceOf(APIError);
      expect(failure.error).toMatchObject({ type: 'upstream_error', code: 'no_image_generated' });
    });

    it("refuses a size the model does not offer at OpenAI with OpenAI's 400, before any upstream work", async () => {
      const huge = await errorOf(stack.openai(token).images.generate({ model: 'gpt-image-1', prompt: 'a fox', size: '99999x99999' }));
      expect(huge.status).toBe(400);
      expect(huge.error).toEqual({
        message: "Invalid value: '99999x99999'. Supported values are: '1024x1024', '1536x1024', '1024x1536', and 'auto'.",
        type: 'invalid_request_error',
        param: 'size',
        code: 'invalid_value',
      });
      const dalle3 = await errorOf(stack.openai(token).images.generate({ model: 'dall-e-3', prompt: 'a fox', size: '512x512' }));
      expect(dalle3.error).toMatchObject({ param: 'size', code: 'invalid_value' });
      // Without a model, a size of any model passes; one of none does not.
      const byDefault = await errorOf(stack.openai(token).images.generate({ prompt: 'a fox', size: '1000x1000' }));
      expect(byDefault.error).toMatchObject({ param: 'size', code: 'invalid_value' });
      expect(stack.fake.conversationRequests()).toHaveLength(0);
      stack.fake.enqueue({ kind: 'image', prompt: 'A wide fox' });
      const wide = await stack.openai(token).images.generate({ prompt: 'a wide fox', size: '1536x1024' });
      expect(wide.data![0].url).toMatch(new RegExp(`^${stack.url}/files/`));

      stack.fake.enqueue({ kind: 'image', prompt: 'A fox' });
      const small = await stack.openai(token).images.generate({ model: 'dall-e-2', prompt: 'a fox', size: '512x512' });
      expect(small.data![0].url).toMatch(new RegExp(`^${stack.url}/files/`));
    });

    it('refuses a moderated prompt with content_policy_violation', async () => {
      stack.fake.enqueue({ kind: 'moderation' });
      const refused = await errorOf(stack.openai(token).images.generate({ prompt: 'something bad' }));
      expect(refused.status).toBe(400);
      expect(refused.code).toBe('content_policy_violation');
    });
  });

  describe('durable file links', () => {
    it('links chat images through the account of a pool key, and the link outlives the signed URL', async () => {
      const account = stack.fake.createAccessToken({ plan: 'plus' });
      await admin()
        .post('/admin/api/tokens', { tokens: [account] })
        .expect(200);
      stack.fake.enqueue({ kind: 'image', prompt: 'A blue square' });
      const completion = await ask(POOL_KEY);
      const content = completion.choices[0].message.content!;
      const link = FILE_LINK.exec(content);
      expect(link).not.toBeNull();
      expect(content).not.toContain(stack.fake.url);
      expect(content).toContain(`${stack.url}/files/`);

      stack.fake.expireDownloadUrls();
      const file = await request(stack.url).get(`/files/${link![1]}`).buffer(true).expect(200);
      expect(file.headers['content-type']).toBe('image/png');
      const downloadCalls = stack.fake.requests.filter((r) => /^\/backend-api\/files\/[^/]+\/download$/.test(r.path));
      expect(String(downloadCalls[downloadCalls.length - 1].headers.authorization)).toBe(`Bearer ${account}`);

      // An answer in a Team workspace the request named: its link downloads from that workspace.
      stack.fake.enqueue({ kind: 'image', prompt: 'A team square' });
      const team = await stack.openai(POOL_KEY).chat.completions.create({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'Draw' }],
        'Chatgpt-Account-Id': 'team-ws-7',
      } as never);
      const teamLink = FILE_LINK.exec(team.choices[0].message.content!);
      stack.fake.expireDownloadUrls();
      await request(stack.url).get(`/files/${teamLink![1]}`).buffer(true).expect(200);
      const teamDownloads = stack.fake.requests.filter((r) => /^\/backend-api\/files\/[^/]+\/download$/.test(r.path));
      expect(teamDownloads[teamDownloads.length - 1].headers['chatgpt-account-id']).toBe('team-ws-7');
    });

    it("keeps a client's own AccessToken out of the stored link, which still opens after a restart", async () => {
      stack.fake.enqueue({ kind: 'image', prompt: 'A sealed square' });
      const link = FILE_LINK.exec((await ask(token)).choices[0].message.content!);
      expect(link).not.toBeNull();
      await stack.stopApp();
      const stored = readFileSync(join(stack.dataDir, 'state', 'file-link.json'), 'utf8');
      expect(stored).toContain(link![1]);
      expect(stored).not.toContain(token);
      expect(stored).not.toContain(token.split('.')[1]);
      await stack.restartApp({ AUTHORIZATION: POOL_KEY, ADMIN_KEY, RANDOM_TOKEN: 'false' });

      stack.fake.expireDownloadUrls();
      const file = await request(stack.url).get(`/files/${link![1]}`).buffer(true).expect(200);
      expect(file.headers['content-type']).toBe('image/png');
      const downloadCalls = stack.fake.requests.filter((r) => /^\/backend-api\/files\/[^/]+\/download$/.test(r.path));
      expect(String(downloadCalls[downloadCalls.length - 1].headers.authorization)).toBe(`Bearer ${token}`);
    });

    it('links sandbox files, and answers 404 for unknown links', async () => {
      stack.fake.enqueue({
        kind: 'code',
        code: 'print("hello from the sandbox")',
        output: 'hello from the sandbox',
        text: 'Saved it.',
        sandboxFile: '/mnt/data/out.txt',
      });
      const completion = await ask(token);
      const content = completion.choices[0].message.content!;
      const link = FILE_LINK.exec(content);
      expect(link).not.toBeNull();
      stack.fake.expireDownloadUrls();
      const file = await request(stack.url).get(`/files/${link![1]}`).buffer(true).expect(200);
      expect(Buffer.from(file.body as Buffer).toString('utf8')).toBe('hello from the sandbox');

      const unknown = await request(stack.url).get(`/files/${'A'.repeat(32)}`);
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.code).toBe('file_not_found');
    });
  });
});
