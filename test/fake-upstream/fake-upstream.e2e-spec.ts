import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeUpstream, type Scenario } from './fake-upstream';
import { bruteForcePow, checkPowAnswer, makeRequirementsToken } from './pow-check';
import { SENT_AT_PATTERN } from './scenarios';
import { finalAnswerText, parseSse, readStream } from './stream-reader';

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /**
   * JSON.parse's result, read field by field like supertest's `response.body` (the unsafe-* rules are off in
   * specs for that reason, see eslint.config.mjs); typing each of the ~30 reads would add noise, not safety.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed JSON of many shapes, see above
  json: () => any;
}

async function call(
  fake: FakeUpstream,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(opts.body);
  }
  const res = await fetch(`${fake.url}${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

interface Author {
  role?: unknown;
  name?: unknown;
}

function conversationBody(prompt: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    action: 'next',
    messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: [prompt] }, metadata: {} }],
    model: 'gpt-4o',
    parent_message_id: randomUUID(),
    history_and_training_disabled: true,
    supported_encodings: [],
    force_use_sse: true,
    ...extra,
  };
}

/** What a correct client does: chat-requirements, solve, then the conversation with both sentinel headers. */
async function sentinelHeaders(fake: FakeUpstream, token: string): Promise<Record<string, string>> {
  const req = await call(fake, 'POST', '/backend-api/sentinel/chat-requirements', { token, body: { p: makeRequirementsToken() } });
  expect(req.status).toBe(200);
  const { token: chatToken, proofofwork } = req.json();
  const answer = bruteForcePow(proofofwork.seed, proofofwork.difficulty);
  expect(answer).not.toBeNull();
  return { 'openai-sentinel-chat-requirements-token': chatToken, 'openai-sentinel-proof-token': `gAAAAAB${answer}` };
}

async function converse(fake: FakeUpstream, token: string, body: Record<string, unknown> = conversationBody('hi')): Promise<Reply> {
  const headers = await sentinelHeaders(fake, token);
  return call(fake, 'POST', '/backend-api/conversation', { token, body, headers: { ...headers, accept: 'text/event-stream' } });
}

describe('FakeUpstream', () => {
  let fake: FakeUpstream;
  let at: string;

  beforeAll(async () => {
    fake = await FakeUpstream.start();
    at = fake.createAccessToken({ email: 'alice@example.com', plan: 'plus' });
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.reset());

  describe('proof of work checker', () => {
    it('accepts every solved reference vector and refuses tampered answers', () => {
      const { vectors } = JSON.parse(readFileSync(join(__dirname, '../../src/pow/testdata/pow-vectors.json'), 'utf8')) as {
        vectors: { seed: string; difficulty: string; expected_answer: string; solved: boolean }[];
      };
      for (const v of vectors) {
        expect(checkPowAnswer(v.seed, v.difficulty, v.expected_answer)).toBe(v.solved);
      }
      const first = vectors[0];
      expect(checkPowAnswer(first.seed + '1', first.difficulty, first.expected_answer)).toBe(false);
      expect(checkPowAnswer(first.seed, first.difficulty, Buffer.from('[1,2,3]').toString('base64'))).toBe(false);
    });
  });

  describe('authentication', () => {
    it('refuses unknown, revoked and expired bearers', async () => {
      const unknown = await call(fake, 'GET', '/backend-api/me', { token: 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.e30.sig' });
      expect(unknown.status).toBe(401);
      expect(unknown.json().detail.code).toBe('invalid_jwt');

      const expired = fake.createAccessToken({ expiresInSec: -10 });
      expect((await call(fake, 'GET', '/backend-api/me', { token: expired })).json().detail.code).toBe('token_expired');

      const revoked = fake.createAccessToken();
      expect((await call(fake, 'GET', '/backend-api/me', { token: revoked })).status).toBe(200);
      fake.revokeAccessToken(revoked);
      expect((await call(fake, 'GET', '/backend-api/me', { token: revoked })).status).toBe(401);
    });

    it('issues JWT-shaped access tokens carrying the account', () => {
      const token = fake.createAccessToken({ email: 'bob@example.com', accountId: 'acc-1', plan: 'team' });
      expect(token.startsWith('eyJhbGciOiJSUzI1NiIs')).toBe(true);
      const payload = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
      expect(payload['https://api.openai.com/profile'].email).toBe('bob@example.com');
      expect(payload['https://api.openai.com/auth']).toMatchObject({ chatgpt_account_id: 'acc-1', chatgpt_plan_type: 'team' });
      expect(payload.exp).toBeGreaterThan(Date.now() / 1000);
    });

    it('records the fingerprint headers', async () => {
      await call(fake, 'GET', '/backend-api/models', {
        token: at,
        headers: { 'oai-device-id': 'dev-1', 'user-agent': 'UA/1', authkey: 'k' },
      });
      expect(fake.requests[0].headers).toMatchObject({ 'oai-device-id': 'dev-1', 'user-agent': 'UA/1', authkey: 'k' });
    });
  });

  describe('sentinel and conversation', () => {
    it('rejects chat-requirements without a gAAAAAC requirements token', async () => {
      expect((await call(fake, 'POST', '/backend-api/sentinel/chat-requirements', { token: at, body: {} })).status).toBe(400);
      expect((await call(fake, 'POST', '/backend-api/sentinel/chat-requirements', { token: at, body: { p: 'gAAAAABxyz' } })).status).toBe(
        400,
      );
    });

    it('answers chat-requirements with a persona, a single-use token and a proof of work', async () => {
      const res = await call(fake, 'POST', '/backend-api/sentinel/chat-requirements', { token: at, body: { p: makeRequirementsToken() } });
      expect(res.json()).toMatchObject({
        persona: 'chatgpt-paid',
        proofofwork: { required: true, difficulty: '0fffff' },
        turnstile: { required: false },
        arkose: { required: false },
      });
      expect(fake.sentinelCalls).toBe(1);
    });

    it('refuses a conversation without sentinel headers', async () => {
      const res = await call(fake, 'POST', '/backend-api/conversation', { token: at, body: conversationBody('hi') });
      expect(res.status).toBe(403);
      expect(res.json().detail).toMatch(/Unusual activity/);
    });

    it('refuses a wrong proof with a distinguishable message, and burns the token', async () => {
      const headers = await sentinelHeaders(fake, at);
      const wrong = { ...headers, 'openai-sentinel-proof-token': `gAAAAAB${Buffer.from('[1]').toString('base64')}` };
      const res = await call(fake, 'POST', '/backend-api/conversation', { token: at, body: conversationBody('hi'), headers: wrong });
      expect(res.status).toBe(403);
      expect(res.json()).toEqual({ detail: 'Proof of work failed' });
      const again = await call(fake, 'POST', '/backend-api/conversation', { token: at, body: conversationBody('hi'), headers });
      expect(again.json().detail).toMatch(/Unusual activity/);
    });

    it('refuses a chat-requirements token issued to another account', async () => {
      const other = fake.createAccessToken();
      const headers = await sentinelHeaders(fake, other);
      const res = await call(fake, 'POST', '/backend-api/conversation', { token: at, body: conversationBody('hi'), headers });
      expect(res.status).toBe(403);
    });

    it('streams the classic format for a correct client and reassembles to the text', async () => {
      fake.enqueue({ kind: 'text', text: 'Hello there, general Kenobi!' });
      const res = await converse(fake, at);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      const stream = readStream(res.text);
      expect(stream.format).toBe('classic');
      expect(stream.done).toBe(true);
      expect(finalAnswerText(stream)).toBe('Hello there, general Kenobi!');
      const answer = stream.messages[stream.messages.length - 1];
      expect(answer).toMatchObject({
        status: 'finished_successfully',
        end_turn: true,
        metadata: { model_slug: 'gpt-4o', finish_details: { type: 'stop' } },
      });
      const events = parseSse(res.text)
        .filter((e) => e.data !== '[DONE]')
        .map((e) => JSON.parse(e.data));
      expect((events[0].message as { author: { role: string } }).author.role).toBe('user');
      expect(events.every((e) => typeof e.conversation_id === 'string')).toBe(true);
      // Snapshots are cumulative: each repeats the text so far.
      const parts = events.slice(1).map((e) => e.message.content.parts[0] as string);
      parts.reduce((prev, cur) => (expect(cur.startsWith(prev)).toBe(true), cur));
    });

    it('streams the v1 delta format when asked and reassembles to the same text', async () => {
      fake.enqueue({ kind: 'text', text: 'Hello there, general Kenobi!' });
      const res = await converse(fake, at, conversationBody('hi', { supported_encodings: ['v1'] }));
      const events = parseSse(res.text);
      expect(events[0]).toEqual({ event: 'delta_encoding', data: '"v1"' });
      const deltas = events.filter((e) => e.event === 'delta').map((e) => JSON.parse(e.data));
      expect(deltas[0]).toMatchObject({ p: '', o: 'add', c: 0 });
      expect(deltas[1]).toEqual({ p: '/message/content/parts/0', o: 'append', v: 'Hello ' });
      expect(deltas[2]).toEqual({ v: 'there, ' });
      expect(deltas[deltas.length - 1].o).toBe('patch');
      expect(events[events.length - 2].data).toContain('message_stream_complete');
      expect(events[events.length - 1].data).toBe('[DONE]');
      const stream = readStream(res.text);
      expect(stream.format).toBe('delta');
      expect(finalAnswerText(stream)).toBe('Hello there, general Kenobi!');
    });

    it('answers classic when delta encoding is switched off even if asked', async () => {
      const classicOnly = await FakeUpstream.start({ deltaEncoding: false, requireSentinel: false });
      try {
        const token = classicOnly.createAccessToken();
        const res = await call(classicOnly, 'POST', '/backend-api/conversation', {
          token,
          body: conversationBody('hi', { supported_encodings: ['v1'] }),
        });
        expect(res.status).toBe(200);
        expect(readStream(res.text).format).toBe('classic');
        expect(finalAnswerText(readStream(res.text))).toBe('Hello! How can I help you today?');
      } finally {
        await classicOnly.close();
      }
    });

    it('gives the same final messages in both formats for every tool scenario', async () => {
      const scenarios: Scenario[] = [
        { kind: 'code', code: 'print(1+1)', output: '2\n', text: 'The result is 2.', sandboxFile: '/mnt/data/result.csv' },
        {
          kind: 'browse',
          initialText: 'Searching the web',
          finishedText: 'Searched 2 sites',
          text: 'Rust is fast【0†source】.',
          citations: [
            { url: 'https://a.example/x', title: 'A' },
            { url: 'https://b.example', title: 'B' },
          ],
        },
        {
          kind: 'reasoning',
          thoughts: [
            { summary: 'Plan', content: 'Think first.' },
            { summary: 'Check', content: 'Then check.' },
          ],
          seconds: 3,
          text: 'Done.',
        },
        { kind: 'image', prompt: 'a cat', fileIds: ['file-img1'] },
        { kind: 'text', text: 'Cut short', finish: 'max_tokens' },
      ];
      for (const scenario of scenarios) {
        const shapes: unknown[] = [];
        for (const encodings of [[], ['v1']]) {
          fake.enqueue(scenario);
          const res = await converse(fake, at, conversationBody('find things', { supported_encodings: encodings }));
          expect(res.status).toBe(200);
          const stream = readStream(res.text);
          const shape = stream.messages.map((m) => ({
            role: (m.author as Author).role,
            name: (m.author as Author).name,
            content: m.content,
            status: m.status,
            end_turn: m.end_turn,
            recipient: m.recipient,
          }));
          shapes.push(JSON.parse(JSON.stringify(shape).replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')));
        }
        expect(shapes[1]).toEqual(shapes[0]);
      }
    });

    it('serves code interpreter files and generated images', async () => {
      fake.enqueue({ kind: 'code', code: 'df.to_csv()', output: 'a,b\n1,2\n', text: 'Saved.', sandboxFile: '/mnt/data/result.csv' });
      const res = await converse(fake, at, conversationBody('csv', { history_and_training_disabled: false }));
      const stream = readStream(res.text);
      expect(finalAnswerText(stream)).toContain('(sandbox:/mnt/data/result.csv)');
      const conversationId = stream.messages[0] && (JSON.parse(parseSse(res.text)[0].data) as { conversation_id: string }).conversation_id;
      const last = stream.messages[stream.messages.length - 1];
      const link = await call(
        fake,
        'GET',
        `/backend-api/conversation/${conversationId}/interpreter/download?message_id=${String(last.id)}&sandbox_path=/mnt/data/result.csv`,
        { token: at },
      );
      expect(link.status).toBe(200);
      const file = await fetch(link.json().download_url);
      expect(await file.text()).toBe('a,b\n1,2\n');

      fake.enqueue({ kind: 'image', prompt: 'a cat' });
      const image = readStream((await converse(fake, at)).text);
      const pointer = (image.messages[image.messages.length - 1].content as { parts: { asset_pointer: string }[] }).parts[0].asset_pointer;
      const dl = await call(fake, 'GET', `/backend-api/files/${pointer.replace('file-service://', '')}/download`, { token: at });
      const png = Buffer.from(await (await fetch(dl.json().download_url)).arrayBuffer());
      expect(png.subarray(1, 4).toString()).toBe('PNG');
    });

    it('validates the conversation body', async () => {
      const bad = await converse(fake, at, { ...conversationBody('x'), messages: [] });
      expect(bad.status).toBe(400);
      const noRole = await converse(
        fake,
        at,
        conversationBody('x', { messages: [{ id: 'm', content: { content_type: 'text', parts: ['x'] } }] }),
      );
      expect(noRole.status).toBe(400);
    });

    it('honours queued status scenarios and sticky per-token rate limits', async () => {
      fake.enqueue({ kind: 'status', status: 429, body: { detail: { message: 'cap', clears_in: 120, code: 'model_cap_exceeded' } } });
      const limited = await converse(fake, at);
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toBe('120');

      fake.setTokenStatus(at, 429, { clearsInSec: 30, times: 1 });
      const sticky = await call(fake, 'POST', '/backend-api/sentinel/chat-requirements', {
        token: at,
        body: { p: makeRequirementsToken() },
      });
      expect(sticky.status).toBe(429);
      expect(sticky.json().detail.clears_in).toBeGreaterThan(0);
      expect((await converse(fake, at)).status).toBe(200);

      fake.enqueue({ kind: 'cf_challenge' });
      const cf = await call(fake, 'POST', '/backend-api/conversation', { token: at, body: conversationBody('x') });
      expect(cf.status).toBe(403);
      expect(cf.text).toContain('cf_chl_opt');

      fake.enqueue({ kind: 'json_instead_of_stream', status: 200, body: { wss_url: 'wss://x' } });
      const json = await converse(fake, at);
      expect(json.headers.get('content-type')).toBe('application/json');
    });

    it('sends moderation and error events', async () => {
      fake.enqueue({ kind: 'moderation' });
      const moderated = readStream((await converse(fake, at)).text);
      expect(moderated.others[0]).toMatchObject({ type: 'moderation', moderation_response: { flagged: true, blocked: true } });

      fake.enqueue({ kind: 'error_event', text: 'partial answer', message: 'Something broke' });
      const errored = readStream((await converse(fake, at)).text);
      expect(errored.others[0]).toMatchObject({ error: 'Something broke' });
      expect(errored.done).toBe(true);
    });

    it('cuts a stream without [DONE]', async () => {
      fake.enqueue({ kind: 'cut', text: 'one two three four five', afterChunks: 2 });
      const headers = await sentinelHeaders(fake, at);
      await expect(
        fetch(`${fake.url}/backend-api/conversation`, {
          method: 'POST',
          headers: { ...headers, authorization: `Bearer ${at}`, 'content-type': 'application/json' },
          body: JSON.stringify(conversationBody('x')),
        }).then((r) => r.text()),
      ).rejects.toThrow();
      expect(fake.abortedStreams).toBe(0);
    });

    it('counts a client that goes away mid-stream', async () => {
      fake.enqueue({ kind: 'stall', stallMs: 5000, afterChunks: 1 });
      const headers = await sentinelHeaders(fake, at);
      const body = JSON.stringify(conversationBody('x'));
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest(`${fake.url}/backend-api/conversation`, {
          method: 'POST',
          headers: { ...headers, authorization: `Bearer ${at}`, 'content-type': 'application/json' },
        });
        req.on('response', (res) => {
          expect(fake.openStreams).toBe(1);
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => undefined);
        req.end(body);
        const timer = setTimeout(() => reject(new Error('no data')), 3000);
        req.once('close', () => clearTimeout(timer));
      });
      for (let i = 0; i < 50 && fake.abortedStreams === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(fake.abortedStreams).toBe(1);
      expect(fake.openStreams).toBe(0);
    });

    it('skips the sentinel checks with requireSentinel false', async () => {
      const open = await FakeUpstream.start({ requireSentinel: false });
      try {
        const res = await call(open, 'POST', '/backend-api/conversation', {
          token: open.createAccessToken(),
          body: conversationBody('hi'),
        });
        expect(res.status).toBe(200);
      } finally {
        await open.close();
      }
    });
  });

  describe('more scenarios and options', () => {
    it('resumes a stalled stream after the pause and finishes it', async () => {
      fake.enqueue({ kind: 'stall', text: 'slow but sure', afterChunks: 1, stallMs: 150 });
      const started = Date.now();
      const res = await converse(fake, at);
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
      expect(finalAnswerText(readStream(res.text))).toBe('slow but sure');
    });

    it('spaces events by chunkDelayMs and by a scenario delayMs', async () => {
      const slow = await FakeUpstream.start({ chunkDelayMs: 30, requireSentinel: false });
      try {
        const token = slow.createAccessToken();
        let started = Date.now();
        await call(slow, 'POST', '/backend-api/conversation', { token, body: conversationBody('x') });
        expect(Date.now() - started).toBeGreaterThanOrEqual(30 * 6);
        slow.enqueue({ kind: 'text', text: 'a b', delayMs: 0 });
        started = Date.now();
        await call(slow, 'POST', '/backend-api/conversation', { token, body: conversationBody('x') });
        expect(Date.now() - started).toBeLessThan(100);
      } finally {
        await slow.close();
      }
    });

    it('stamps the first piece with the time it was sent when a text answer asks for it, in both formats', async () => {
      for (const encodings of [[], ['v1']]) {
        fake.enqueue({ kind: 'text', text: 'stamped answer', stampSendTime: true });
        const before = performance.timeOrigin + performance.now();
        const res = await converse(fake, at, conversationBody('x', { supported_encodings: encodings }));
        const after = performance.timeOrigin + performance.now();
        const stamps = [...res.text.matchAll(new RegExp(SENT_AT_PATTERN, 'g'))].map((match) => match[1]);
        expect(stamps.length).toBeGreaterThan(0);
        expect(new Set(stamps).size).toBe(1);
        expect(Number(stamps[0])).toBeGreaterThanOrEqual(before);
        expect(Number(stamps[0])).toBeLessThanOrEqual(after);
        expect(finalAnswerText(readStream(res.text))).toBe(`[sent-at ${stamps[0]}] stamped answer`);
      }
      fake.enqueue({ kind: 'text', text: 'plain answer' });
      expect(finalAnswerText(readStream((await converse(fake, at)).text))).toBe('plain answer');
    });

    it('streams a long deterministic answer of the exact length in both formats', async () => {
      for (const encodings of [[], ['v1']]) {
        fake.enqueue({ kind: 'long', chars: 5000 });
        const text = finalAnswerText(
          readStream((await converse(fake, at, conversationBody('x', { supported_encodings: encodings }))).text),
        );
        expect(text).toHaveLength(5000);
      }
    });

    it('reports max_tokens as a partial completion', async () => {
      fake.enqueue({ kind: 'text', text: 'cut', finish: 'max_tokens' });
      const stream = readStream((await converse(fake, at)).text);
      expect(stream.messages[stream.messages.length - 1]).toMatchObject({
        status: 'finished_partial_completion',
        end_turn: false,
        metadata: { finish_details: { type: 'max_tokens' } },
      });
    });

    it('lets anonymous callers use /backend-anon with the same sentinel rules', async () => {
      const device = { 'oai-device-id': randomUUID() };
      const req = await call(fake, 'POST', '/backend-anon/sentinel/chat-requirements', {
        body: { p: makeRequirementsToken() },
        headers: device,
      });
      expect(req.json().persona).toBe('chatgpt-noauth');
      const { token, proofofwork } = req.json();
      const headers = {
        ...device,
        'openai-sentinel-chat-requirements-token': token,
        'openai-sentinel-proof-token': `gAAAAAB${bruteForcePow(proofofwork.seed, proofofwork.difficulty)}`,
      };
      const res = await call(fake, 'POST', '/backend-anon/conversation', { body: conversationBody('hi'), headers });
      expect(res.status).toBe(200);
      expect(fake.conversationRequests()).toHaveLength(1);
      expect((await call(fake, 'GET', '/backend-anon/me')).status).toBe(404);
    });

    it('normalises a doubled slash in the path', async () => {
      expect((await call(fake, 'GET', '//backend-api/models?history_and_training_disabled=false', { token: at })).status).toBe(200);
      expect(fake.requests[0]).toMatchObject({ path: '/backend-api/models', query: { history_and_training_disabled: 'false' } });
    });

    it('answers queued sentinel failures, and requires the arkose token when configured', async () => {
      fake.enqueueSentinel({ kind: 'cf_challenge' });
      fake.enqueueSentinel({ kind: 'status', status: 429 });
      const p = { p: makeRequirementsToken() };
      expect((await call(fake, 'POST', '/backend-api/sentinel/chat-requirements', { token: at, body: p })).text).toContain('cf_chl_opt');
      const limited = await call(fake, 'POST', '/backend-api/sentinel/chat-requirements', { token: at, body: p });
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toBe('60');

      const strict = await FakeUpstream.start({ arkoseRequired: true, turnstileRequired: true });
      try {
        const token = strict.createAccessToken();
        const req = (await call(strict, 'POST', '/backend-api/sentinel/chat-requirements', { token, body: p })).json();
        expect(req.arkose.required).toBe(true);
        expect(typeof req.turnstile.dx).toBe('string');
        const headers = await sentinelHeaders(strict, token);
        expect((await call(strict, 'POST', '/backend-api/conversation', { token, body: conversationBody('x'), headers })).status).toBe(403);
        const withArkose = { ...(await sentinelHeaders(strict, token)), 'openai-sentinel-arkose-token': 'arkose' };
        expect(
          (await call(strict, 'POST', '/backend-api/conversation', { token, body: conversationBody('x'), headers: withArkose })).status,
        ).toBe(200);
      } finally {
        await strict.close();
      }
    });

    it('hands out the configured difficulty', async () => {
      fake.powDifficulty = '00003a';
      const req = await call(fake, 'POST', '/backend-api/sentinel/chat-requirements', { token: at, body: { p: makeRequirementsToken() } });
      expect(req.json().proofofwork.difficulty).toBe('00003a');
    });

    it('fails sticky per-token statuses until cleared', async () => {
      fake.setTokenStatus(at, 403);
      expect(
        (await call(fake, 'POST', '/backend-api/sentinel/chat-requirements', { token: at, body: { p: makeRequirementsToken() } })).status,
      ).toBe(403);
      expect(
        (await call(fake, 'POST', '/backend-api/sentinel/chat-requirements', { token: at, body: { p: makeRequirementsToken() } })).status,
      ).toBe(403);
      fake.clearTokenStatus(at);
      expect((await converse(fake, at)).status).toBe(200);
      fake.setTokenStatus(at, 429, { clearsInSec: 0.2 });
      expect(
        (await call(fake, 'POST', '/backend-api/sentinel/chat-requirements', { token: at, body: { p: makeRequirementsToken() } })).status,
      ).toBe(429);
      await new Promise((r) => setTimeout(r, 250));
      expect((await converse(fake, at)).status).toBe(200);
    });

    it('refuses an unknown gizmo and an unknown conversation id', async () => {
      const gizmo = await converse(
        fake,
        at,
        conversationBody('x', { conversation_mode: { kind: 'gizmo_interaction', gizmo_id: 'g-nope' } }),
      );
      expect(gizmo.status).toBe(404);
      const known = await converse(
        fake,
        at,
        conversationBody('x', { conversation_mode: { kind: 'gizmo_interaction', gizmo_id: 'g-known' } }),
      );
      expect(known.status).toBe(200);
      expect((await converse(fake, at, conversationBody('x', { conversation_id: randomUUID() }))).status).toBe(404);
    });
  });

  describe('conversations', () => {
    it('lists kept conversations and hides temporary ones', async () => {
      await converse(fake, at, conversationBody('remember this please', { history_and_training_disabled: false }));
      await converse(fake, at, conversationBody('temporary chat'));
      const list = (await call(fake, 'GET', '/backend-api/conversations?offset=0&limit=28', { token: at })).json();
      expect(list.items).toHaveLength(1);
      expect(list.items[0].title).toBe('Remember This Please');
      const detail = await call(fake, 'GET', `/backend-api/conversation/${list.items[0].id}`, { token: at });
      expect(detail.status).toBe(200);
      const other = fake.createAccessToken();
      expect((await call(fake, 'GET', `/backend-api/conversation/${list.items[0].id}`, { token: other })).status).toBe(404);
      expect((await call(fake, 'GET', `/backend-api/conversation/${randomUUID()}`, { token: at })).status).toBe(404);
    });
  });

  describe('auth server', () => {
    const exchange = (rt: string, clientId = 'pdlLIX2Y72MIl2rhLhTE9VV9bN905kBh') =>
      call(fake, 'POST', '/oauth/token', {
        body: {
          client_id: clientId,
          grant_type: 'refresh_token',
          redirect_uri: 'com.openai.chat://auth0.openai.com/ios/com.openai.chat/callback',
          refresh_token: rt,
        },
      });

    it('exchanges a refresh token for a working access token', async () => {
      const rt = fake.createRefreshToken({ accessTokenTtlSec: 3600 });
      expect(rt).toMatch(/^rt_/);
      const res = await exchange(rt);
      expect(res.status).toBe(200);
      const body = res.json();
      expect(body).toMatchObject({ expires_in: 3600, token_type: 'Bearer' });
      expect(body.refresh_token).toBeUndefined();
      expect((await call(fake, 'GET', '/backend-api/me', { token: body.access_token })).status).toBe(200);
      expect(fake.oauthExchanges).toBe(1);
    });

    it('answers invalid_grant for unknown and revoked tokens, and rotates when asked', async () => {
      expect((await exchange('x'.repeat(45))).json().error).toBe('invalid_grant');
      const legacy = fake.createRefreshToken({ legacy: true });
      expect(legacy).toHaveLength(45);
      fake.revokeRefreshToken(legacy);
      expect((await exchange(legacy)).status).toBe(400);

      const rotating = fake.createRefreshToken({ rotate: true });
      const first = (await exchange(rotating)).json();
      expect(first.refresh_token).toMatch(/^rt_/);
      expect((await exchange(rotating)).json().error).toBe('invalid_grant');
      expect((await exchange(first.refresh_token)).status).toBe(200);
      expect((await exchange(first.refresh_token, 'other-client')).status).toBe(401);
    });
    it('delays exchanges when asked and can fail them', async () => {
      const slow = await FakeUpstream.start({ oauthDelayMs: 100 });
      try {
        const rt = slow.createRefreshToken();
        const body = { client_id: 'pdlLIX2Y72MIl2rhLhTE9VV9bN905kBh', grant_type: 'refresh_token', redirect_uri: 'x', refresh_token: rt };
        const started = Date.now();
        const [a, b] = await Promise.all([call(slow, 'POST', '/oauth/token', { body }), call(slow, 'POST', '/oauth/token', { body })]);
        expect(Date.now() - started).toBeGreaterThanOrEqual(95);
        expect([a.status, b.status]).toEqual([200, 200]);
        expect(slow.oauthExchanges).toBe(2);
        slow.failOAuth(503);
        expect((await call(slow, 'POST', '/oauth/token', { body })).status).toBe(503);
        expect((await call(slow, 'POST', '/oauth/token', { body })).status).toBe(200);
      } finally {
        await slow.close();
      }
    });
  });

  describe('files', () => {
    it('uploads through the signed blob URL, refusing credentials', async () => {
      const created = (
        await call(fake, 'POST', '/backend-api/files', {
          token: at,
          body: { file_name: 'a.txt', file_size: 5, use_case: 'my_files', reset_rate_limits: false, timezone_offset_min: -480 },
        })
      ).json();
      expect(created).toMatchObject({ status: 'success', file_id: expect.stringMatching(/^file-/) });
      const put = (headers: Record<string, string>) =>
        fetch(created.upload_url, { method: 'PUT', headers: { 'content-type': 'text/plain', ...headers }, body: 'hello' });
      expect((await put({ 'x-ms-blob-type': 'BlockBlob', authorization: `Bearer ${at}` })).status).toBe(400);
      expect((await put({ 'x-ms-blob-type': 'BlockBlob', 'oai-device-id': 'd' })).status).toBe(400);
      expect((await put({})).status).toBe(400);
      expect((await call(fake, 'POST', `/backend-api/files/${created.file_id}/uploaded`, { token: at, body: {} })).status).toBe(400);
      expect((await put({ 'x-ms-blob-type': 'BlockBlob', 'x-ms-version': '2020-04-08' })).status).toBe(201);
      const uploaded = (await call(fake, 'POST', `/backend-api/files/${created.file_id}/uploaded`, { token: at, body: {} })).json();
      expect(uploaded.status).toBe('success');
      expect((await call(fake, 'GET', `/backend-api/files/${created.file_id}`, { token: at })).json().retrieval_index_status).toBe(
        'success',
      );
      expect(fake.uploadedFile(created.file_id)?.bytes.toString()).toBe('hello');
    });
  });

  it('reports indexing as pending for the configured number of polls', async () => {
    const slow = await FakeUpstream.start({ fileIndexPolls: 2, recordRequests: false });
    try {
      const token = slow.createAccessToken();
      const created = (
        await call(slow, 'POST', '/backend-api/files', { token, body: { file_name: 'a.md', file_size: 1, use_case: 'my_files' } })
      ).json();
      await fetch(created.upload_url, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'x' });
      const poll = async () => (await call(slow, 'GET', `/backend-api/files/${created.file_id}`, { token })).json().retrieval_index_status;
      expect([await poll(), await poll(), await poll()]).toEqual(['pending', 'pending', 'success']);
      expect(slow.requests).toHaveLength(0);
      expect(
        (await call(slow, 'POST', '/backend-api/files', { token, body: { file_name: 'a', file_size: 1, use_case: 'nope' } })).status,
      ).toBe(400);
    } finally {
      await slow.close();
    }
  });

  describe('other endpoints', () => {
    it('serves the home page, models, profile, account check and gizmos', async () => {
      const home = await call(fake, 'GET', '/');
      expect(home.text).toMatch(/data-build="prod-[0-9a-f]+"/);
      expect(home.text).toMatch(/<script src="https:\/\/cdn\.oaistatic\.com\/_next\/static\/chunks\/c\/prod-[0-9a-f]+\/_\/app-/);
      const models = (await call(fake, 'GET', '/backend-api/models', { token: at })).json();
      expect(models.categories.map((c: { default_model: string }) => c.default_model)).toEqual(
        expect.arrayContaining(['gpt-4o', 'o1', 'auto', 'gpt-4o-canmore']),
      );
      const free = fake.createAccessToken({ persona: 'chatgpt-freeaccount' });
      expect(
        (await call(fake, 'GET', '/backend-api/models', { token: free })).json().models.map((m: { slug: string }) => m.slug),
      ).not.toContain('o1');
      expect((await call(fake, 'GET', '/backend-api/me', { token: at })).json().email).toBe('alice@example.com');
      const check = (await call(fake, 'GET', '/backend-api/accounts/check/v4-2023-04-27', { token: at })).json();
      expect(Object.values(check.accounts as Record<string, { account: { plan_type: string } }>)[0].account.plan_type).toBe('plus');
      expect((await call(fake, 'GET', '/backend-api/gizmos/g-known', { token: at })).json().gizmo.id).toBe('g-known');
      expect((await call(fake, 'GET', '/backend-api/gizmos/g-unknown', { token: at })).status).toBe(404);
      expect((await call(fake, 'GET', '/backend-api/nothing-here', { token: at })).status).toBe(404);
    });
  });
});
