import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { ClientFileFetcher } from '../src/chat/client-file.fetcher';
import { newAccountRecord } from '../src/token-pool/account-record';
import { ACCOUNT_STORE, type AccountStore } from '../src/token-pool/stores/account-store';
import { poolServicesOf } from '../src/token-pool/testing/pool-services';
import { Stack, startStack } from './support/stack';

jest.setTimeout(120_000);

const chat = (content: unknown, extra: Record<string, unknown> = {}) => ({
  model: 'gpt-4o',
  messages: [{ role: 'user', content }],
  ...extra,
});

describe('chat hardening (issue #8 attack pass)', () => {
  let stack: Stack;
  let token: string;

  beforeAll(async () => {
    stack = await startStack();
    token = stack.fake.createAccessToken();
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.fake.reset());

  const post = (body: unknown) =>
    request(stack.url)
      .post('/v1/chat/completions')
      .set('authorization', `Bearer ${token}`)
      .send(body as object);

  describe('token counting never holds the event loop', () => {
    /** Sends `body` and asks /healthz while it is in flight; both must answer. */
    async function healthzDuring(body: unknown): Promise<{ chat: request.Response; healthzBeforeChat: boolean }> {
      let chatDone = false;
      const chatting = post(body).then((response) => {
        chatDone = true;
        return response;
      });
      // Once the fake has the conversation, the answer and its usage count are what is left to do.
      while (stack.fake.conversationRequests().length === 0 && !chatDone) await new Promise((resolve) => setTimeout(resolve, 5));
      const health = await request(stack.url).get('/healthz');
      expect(health.status).toBe(200);
      const healthzBeforeChat = !chatDone;
      return { chat: await chatting, healthzBeforeChat };
    }

    it('answers /healthz while a huge unbroken prompt is counted', async () => {
      stack.fake.enqueue({ kind: 'text', text: 'Short answer.' });
      const { chat: response } = await healthzDuring(chat('A'.repeat(3_000_000)));
      expect(response.status).toBe(200);
      expect(response.body.usage.prompt_tokens).toBeGreaterThan(1000);
    });

    it('counts a long unbroken upstream answer without stalling other requests', async () => {
      stack.fake.enqueue({ kind: 'text', text: 'Q'.repeat(400_000), chunks: 50 });
      const { chat: response } = await healthzDuring(chat('Repeat Q.'));
      expect(response.status).toBe(200);
      expect(response.body.choices[0].message.content).toBe('Q'.repeat(400_000));
      expect(response.body.usage.completion_tokens).toBeGreaterThan(1000);
    });

    it('cuts a long unbroken answer at max_tokens', async () => {
      stack.fake.enqueue({ kind: 'text', text: 'Z'.repeat(300_000), chunks: 3 });
      const response = await post(chat('Repeat Z.', { max_tokens: 20 }));
      expect(response.status).toBe(200);
      expect(response.body.choices[0].finish_reason).toBe('length');
      expect(response.body.usage.completion_tokens).toBeLessThanOrEqual(20);
    });
  });

  describe('malformed messages are refused before any upstream work', () => {
    it.each([
      [
        'a null tool call',
        {
          model: 'gpt-4o',
          messages: [
            { role: 'assistant', content: null, tool_calls: [null] },
            { role: 'user', content: 'x' },
          ],
        },
        'messages[0].tool_calls[0]',
        'invalid_value',
      ],
      [
        'tool_calls not an array',
        { model: 'gpt-4o', messages: [{ role: 'assistant', content: 'a', tool_calls: { id: 'x' } }] },
        'messages[0].tool_calls',
        'invalid_value',
      ],
      [
        'a tool call whose function is a string',
        { model: 'gpt-4o', messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: 'f' }] }] },
        'messages[0].tool_calls[0].function',
        'invalid_value',
      ],
      [
        'tool call arguments that are not a string',
        {
          model: 'gpt-4o',
          messages: [
            {
              role: 'assistant',
              content: null,
              tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: { a: 1 } } }],
            },
          ],
        },
        'messages[0].tool_calls[0].function.arguments',
        'invalid_value',
      ],
      ['a text part whose text is a number', chat([{ type: 'text', text: 5 }]), 'messages[0].content[0].text', 'invalid_value'],
      ['a text part without text', chat([{ type: 'text' }]), 'messages[0].content[0].text', 'missing_required_parameter'],
      ['a null part', chat([null]), 'messages[0].content[0]', 'invalid_value'],
      ['a part whose type is a number', chat([{ type: 7 }]), 'messages[0].content[0].type', 'invalid_value'],
      ['an unknown part type', chat([{ type: 'input_audio', input_audio: {} }]), 'messages[0].content[0].type', 'unsupported_content'],
      [
        'an image_url that is a string',
        chat([{ type: 'image_url', image_url: 'https://example.com/a.png' }]),
        'messages[0].content[0].image_url',
        'invalid_value',
      ],
      [
        'an image url that is a number',
        chat([{ type: 'image_url', image_url: { url: 5 } }]),
        'messages[0].content[0].image_url.url',
        'invalid_value',
      ],
      [
        'an unknown image detail',
        chat([{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'huge' } }]),
        'messages[0].content[0].image_url.detail',
        'invalid_value',
      ],
      [
        'a file without data',
        chat([{ type: 'file', file: { filename: 'a.txt' } }]),
        'messages[0].content[0].file.file_data',
        'missing_required_parameter',
      ],
      [
        'a file name that is not a string',
        chat([{ type: 'file', file: { file_data: 'data:text/plain;base64,aGk=', filename: ['a'] } }]),
        'messages[0].content[0].file.filename',
        'invalid_value',
      ],
      [
        'a name that is not a string',
        { model: 'gpt-4o', messages: [{ role: 'user', content: 'x', name: 5 }] },
        'messages[0].name',
        'invalid_value',
      ],
      ['a message that is null', { model: 'gpt-4o', messages: [null] }, 'messages[0]', 'missing_required_parameter'],
      ['a message that is a string', { model: 'gpt-4o', messages: ['hi'] }, 'messages[0]', 'invalid_value'],
      [
        'a tool_call_id that is not a string',
        { model: 'gpt-4o', messages: [{ role: 'tool', content: 'x', tool_call_id: {} }] },
        'messages[0].tool_call_id',
        'invalid_value',
      ],
      [
        'a tool result that does not say which call it answers',
        {
          model: 'gpt-4o',
          messages: [
            { role: 'user', content: 'Weather?' },
            {
              role: 'assistant',
              content: null,
              tool_calls: [{ id: 'c1', type: 'function', function: { name: 'weather', arguments: '{}' } }],
            },
            { role: 'tool', content: 'Sunny' },
          ],
        },
        'messages[2].tool_call_id',
        'missing_required_parameter',
      ],
      [
        'a tool result whose tool_call_id is null',
        { model: 'gpt-4o', messages: [{ role: 'tool', content: 'x', tool_call_id: null }] },
        'messages[0].tool_call_id',
        'missing_required_parameter',
      ],
    ])('%s → 400 on %s with no upstream call', async (_name, body, param, code) => {
      const response = await post(body);
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ error: { message: expect.any(String), type: 'invalid_request_error', param, code } });
      expect(stack.fake.sentinelCalls).toBe(0);
      expect(stack.fake.requests).toEqual([]);
    });

    it('still accepts well-formed parts and tool calls', async () => {
      const response = await post({
        model: 'gpt-4o',
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'What is the weather?' }] },
          {
            role: 'assistant',
            content: null,
            tool_calls: [{ id: 'c1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }],
          },
          { role: 'tool', tool_call_id: 'c1', content: 'Sunny' },
        ],
      });
      expect(response.status).toBe(200);
      const sent = JSON.stringify(stack.fake.conversationRequests()[0].body);
      expect(sent).toContain('weather({\\"city\\":\\"Paris\\"})');
    });
  });

  describe('credentials that cannot be HTTP header values', () => {
    const POOL_KEY = 'pool-key-hardening';
    let pooled: Stack;

    beforeAll(async () => {
      pooled = await startStack({ env: { AUTHORIZATION: POOL_KEY, RANDOM_TOKEN: 'false' } });
    });
    afterAll(() => pooled.close());
    beforeEach(() => pooled.fake.reset());

    it('refuses such an API key with 401 and never sends it', async () => {
      const response = await request(pooled.url)
        .post('/v1/chat/completions')
        .set('authorization', 'Bearer fk-bad\u00e9token')
        .send(chat('hi'));
      expect(response.status).toBe(401);
      expect(response.body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key' });
      expect(pooled.fake.requests).toEqual([]);
    });

    it('disables a stored account whose token cannot be sent, and answers from the others', async () => {
      const pool = poolServicesOf(pooled.app);
      await pool.admin.upload([pooled.fake.createAccessToken()]);
      // Stored before uploads were checked: the store takes it as it is.
      const bad = newAccountRecord({ kind: 'access_token', token: 'fk-bad中token' }, Date.now());
      await pooled.app.get<AccountStore>(ACCOUNT_STORE).addAccounts([bad]);
      for (let i = 0; i < 3; i++) {
        const response = await request(pooled.url)
          .post('/v1/chat/completions')
          .set('authorization', `Bearer ${POOL_KEY}`)
          .send(chat(`q${i}`));
        expect(response.status).toBe(200);
      }
      const account = (await pool.readModel.list()).find((view) => view.id === bad.id);
      expect(account).toMatchObject({ state: 'disabled', failures: 1, stateReason: expect.stringContaining('header') });
    });
  });

  describe('an upstream that stalls before answering', () => {
    const POOL_KEY = 'pool-key-stall';
    let slow: Stack;

    beforeAll(async () => {
      // Classic encoding: the stall then comes before the assistant message, i.e. before the answer starts.
      slow = await startStack({
        env: { AUTHORIZATION: POOL_KEY, RANDOM_TOKEN: 'false', UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '500', UPSTREAM_DELTA_ENCODING: 'false' },
      });
    });
    afterAll(() => slow.close());
    beforeEach(() => slow.fake.reset());

    it('gives a non-stream client 504 upstream_timeout instead of waiting out the stall', async () => {
      slow.fake.enqueue({ kind: 'stall', afterChunks: 0, stallMs: 60_000 });
      const response = await request(slow.url)
        .post('/v1/chat/completions')
        .set('authorization', `Bearer ${slow.fake.createAccessToken()}`)
        .send(chat('hello?'));
      expect(response.status).toBe(504);
      expect(response.body).toEqual({
        error: {
          message: expect.stringContaining('did not start answering'),
          type: 'upstream_error',
          param: null,
          code: 'upstream_timeout',
        },
      });
      // The client's own token: no other account to move to, so no second wait.
      expect(slow.fake.conversationRequests()).toHaveLength(1);
      expect(slow.fake.pendingScenarios).toBe(0);
    });

    it('tells the pool and answers from another account', async () => {
      const pool = poolServicesOf(slow.app);
      await pool.admin.clear();
      await pool.admin.upload([slow.fake.createAccessToken(), slow.fake.createAccessToken()]);
      slow.fake.enqueue({ kind: 'stall', afterChunks: 0, stallMs: 60_000 });
      slow.fake.enqueue({ kind: 'text', text: 'Answered by the other account.' });
      const response = await request(slow.url).post('/v1/chat/completions').set('authorization', `Bearer ${POOL_KEY}`).send(chat('hello?'));
      expect(response.status).toBe(200);
      expect(response.body.choices[0].message.content).toBe('Answered by the other account.');
      expect((await pool.readModel.list()).map((account) => account.failures).sort()).toEqual([0, 1]);
    });
  });

  describe('client file URLs fetched through EXPORT_PROXY_URL or CF_FILE_URL', () => {
    /** A stand-in proxy / external fetcher that records what it is asked for and fetches nothing. */
    let recorder: Server;
    let recorderUrl: string;
    const seen: string[] = [];

    beforeAll(async () => {
      recorder = createServer((req, res) => {
        seen.push(`${req.method} ${req.url}`);
        res.writeHead(404).end();
      });
      recorder.on('connect', (req, socket) => {
        seen.push(`CONNECT ${req.url}`);
        socket.destroy();
      });
      await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve));
      recorderUrl = `http://127.0.0.1:${(recorder.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => recorder.close(() => resolve())));
    beforeEach(() => {
      seen.length = 0;
    });

    const image = (url: string) =>
      chat([
        { type: 'text', text: 'What is this?' },
        { type: 'image_url', image_url: { url } },
      ]);

    it.each([
      ['EXPORT_PROXY_URL', (url: string) => ({ EXPORT_PROXY_URL: url })],
      ['CF_FILE_URL', (url: string) => ({ CF_FILE_URL: `${url}/fetch` })],
    ])('through %s, refuses names that resolve to private addresses before handing them on', async (_name, env) => {
      const proxied = await startStack({ env: env(recorderUrl) });
      try {
        const key = proxied.fake.createAccessToken();
        const send = (url: string) =>
          request(proxied.url).post('/v1/chat/completions').set('authorization', `Bearer ${key}`).send(image(url));
        // The real resolver: localhost is loopback.
        const loopback = await send('http://localhost:8080/admin.png');
        expect(loopback.status).toBe(400);
        expect(loopback.body.error).toMatchObject({
          type: 'invalid_request_error',
          code: 'invalid_image_url',
          param: 'messages[0].content[1].image_url.url',
        });

        // A public-looking name that leads inside.
        proxied.app.get(ClientFileFetcher).hostLookup = async (host) =>
          host === 'images.example.com' ? ['93.184.216.34', '10.0.0.5'] : ['93.184.216.34'];
        const inside = await send('http://images.example.com/cat.png');
        expect(inside.status).toBe(400);
        expect(inside.body.error.message).toContain('not a public address');
        expect(seen).toEqual([]);
        expect(proxied.fake.requests).toEqual([]);

        // A name that leads outside is handed on (here to the recorder, which fetches nothing).
        const outside = await send('http://public.example.com/cat.png');
        expect(outside.status).toBe(400);
        expect(seen.join('\n')).toMatch(/public\.example\.com|\/fetch/);
      } finally {
        await proxied.close();
      }
    });
  });
});
