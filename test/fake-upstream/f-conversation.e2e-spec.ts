import { randomUUID } from 'node:crypto';
import { devControlRoutes } from './dev-controls';
import { F_CONVERSATION_HEADERS } from './f-conversation';
import { FakeUpstream } from './fake-upstream';
import { bruteForcePow, makeRequirementsToken } from './pow-check';
import { finalAnswerText, readStream } from './stream-reader';

/** The fake's new send flow on its own (gateway-live-ui.md §4): every step's rule is enforced. */
describe('FakeUpstream: the f/conversation flow', () => {
  let fake: FakeUpstream;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    fake = await FakeUpstream.start();
    fake.useControlRoutes(devControlRoutes(fake));
    alice = fake.createAccessToken({ email: 'alice@example.com' });
    bob = fake.createAccessToken({ email: 'bob@example.com' });
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.reset());

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed JSON answers, read field by field
  type Reply = { status: number; text: string; json: () => any };

  async function post(path: string, token: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    const response = await fetch(`${fake.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, text, json: () => JSON.parse(text) };
  }

  /** A correct client's sentinel: prepare, solve, finalize. */
  async function sentinel(token: string): Promise<Record<string, string>> {
    const prepared = await post('/backend-api/sentinel/chat-requirements/prepare', token, { p: makeRequirementsToken() });
    expect(prepared.status).toBe(200);
    const { prepare_token, proofofwork } = prepared.json();
    expect(proofofwork.required).toBe(true);
    const proof = `gAAAAAB${bruteForcePow(proofofwork.seed, proofofwork.difficulty)}`;
    const finalized = await post('/backend-api/sentinel/chat-requirements/finalize', token, { prepare_token, proofofwork: proof });
    expect(finalized.status).toBe(200);
    return { 'openai-sentinel-chat-requirements-token': finalized.json().token, 'openai-sentinel-proof-token': proof };
  }

  async function conduit(token: string): Promise<string> {
    const prepared = await post(
      '/backend-api/f/conversation/prepare',
      token,
      { action: 'next', model: 'gpt-4o' },
      { 'x-conduit-token': 'no-token' },
    );
    expect(prepared.status).toBe(200);
    return prepared.json().conduit_token;
  }

  const webApp = {
    'oai-client-version': 'prod-abc',
    'oai-client-build-number': '1',
    'oai-device-id': randomUUID(),
    'oai-language': 'en-US',
    'x-oai-turn-trace-id': randomUUID(),
  };
  const body = () => ({
    action: 'next',
    model: 'gpt-4o',
    parent_message_id: randomUUID(),
    messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: ['hi'] } }],
    supported_encodings: ['v1'],
  });
  const converse = (token: string, headers: Record<string, string>) =>
    post('/backend-api/f/conversation', token, body(), { accept: 'text/event-stream', ...headers });

  it('answers the whole chain with the same SSE answer as the classic conversation', async () => {
    fake.enqueue({ kind: 'text', text: 'Hello from f.' });
    const reply = await converse(alice, { ...webApp, ...(await sentinel(alice)), 'x-conduit-token': await conduit(alice) });
    expect(reply.status).toBe(200);
    expect(finalAnswerText(readStream(reply.text))).toBe('Hello from f.');
  });

  it("refuses a conversation without a conduit token, with another account's, or with one used before", async () => {
    expect((await converse(alice, { ...webApp, ...(await sentinel(alice)) })).status).toBe(403);
    expect((await converse(alice, { ...webApp, ...(await sentinel(alice)), 'x-conduit-token': 'no-token' })).status).toBe(403);
    expect((await converse(alice, { ...webApp, ...(await sentinel(alice)), 'x-conduit-token': await conduit(bob) })).status).toBe(403);
    const once = await conduit(alice);
    expect((await converse(alice, { ...webApp, ...(await sentinel(alice)), 'x-conduit-token': once })).status).toBe(200);
    const again = await converse(alice, { ...webApp, ...(await sentinel(alice)), 'x-conduit-token': once });
    expect(again.status).toBe(403);
    expect(again.json().detail.code).toBe('invalid_conduit_token');
  });

  it('refuses a conversation without a finalize token, or with a proof other than the finalized one', async () => {
    const headers = await sentinel(alice);
    expect(
      (
        await converse(alice, {
          ...webApp,
          'openai-sentinel-proof-token': headers['openai-sentinel-proof-token'],
          'x-conduit-token': await conduit(alice),
        })
      ).status,
    ).toBe(403);
    const other = await sentinel(alice);
    expect(
      (
        await converse(alice, {
          ...webApp,
          ...other,
          'openai-sentinel-proof-token': headers['openai-sentinel-proof-token'],
          'x-conduit-token': await conduit(alice),
        })
      ).status,
    ).toBe(403);
  });

  it('checks the proof of work at finalize, and uses a prepare token once, for its own account', async () => {
    const prepared = (await post('/backend-api/sentinel/chat-requirements/prepare', alice, { p: makeRequirementsToken() })).json();
    expect(
      (
        await post('/backend-api/sentinel/chat-requirements/finalize', alice, {
          prepare_token: prepared.prepare_token,
          proofofwork: 'gAAAAABnope',
        })
      ).status,
    ).toBe(403);
    const fresh = (await post('/backend-api/sentinel/chat-requirements/prepare', alice, { p: makeRequirementsToken() })).json();
    const proof = `gAAAAAB${bruteForcePow(fresh.proofofwork.seed, fresh.proofofwork.difficulty)}`;
    expect(
      (await post('/backend-api/sentinel/chat-requirements/finalize', bob, { prepare_token: fresh.prepare_token, proofofwork: proof }))
        .status,
    ).toBe(403);
    expect((await post('/backend-api/sentinel/chat-requirements/prepare', alice, { p: 'not-a-token' })).status).toBe(400);
  });

  it('issues a conduit token only for x-conduit-token: no-token', async () => {
    expect((await post('/backend-api/f/conversation/prepare', alice, { action: 'next' })).status).toBe(400);
  });

  it('refuses a conversation missing any of the web app headers, naming it', async () => {
    for (const name of F_CONVERSATION_HEADERS.filter((h) => h !== 'x-conduit-token')) {
      const headers: Record<string, string> = { ...webApp, ...(await sentinel(alice)), 'x-conduit-token': await conduit(alice) };
      delete headers[name];
      const reply = await converse(alice, headers);
      expect(reply.status).toBe(403);
      expect(reply.text).toContain(name);
    }
  });

  it('gives each account its generation: classic-only accounts get 404 on the new paths, new-only ones on /conversation', async () => {
    fake.setGeneration(alice, 'classic');
    expect((await post('/backend-api/sentinel/chat-requirements/prepare', alice, { p: makeRequirementsToken() })).status).toBe(404);
    expect((await post('/backend-api/f/conversation/prepare', alice, {}, { 'x-conduit-token': 'no-token' })).status).toBe(404);
    expect(fake.flows.newPathRefusals).toBe(2);
    expect((await post('/backend-api/sentinel/chat-requirements/prepare', bob, { p: makeRequirementsToken() })).status).toBe(200);

    const set = await post(`/_fake/accounts/${encodeURIComponent(bob)}/generation`, bob, { generation: 'f' });
    expect(set.status).toBe(200);
    expect((await post('/backend-api/conversation', bob, body(), { accept: 'text/event-stream' })).status).toBe(404);
    expect(fake.flows.classicPathRefusals).toBe(1);
    expect((await post(`/_fake/accounts/${encodeURIComponent(bob)}/generation`, bob, { generation: 'newest' })).status).toBe(400);
  });
});
