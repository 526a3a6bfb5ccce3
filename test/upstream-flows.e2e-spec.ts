import { BUILD_ID, BUILD_NUMBER } from './fake-upstream/fake-documents';
import { FakeUpstream, RecordedRequest } from './fake-upstream/fake-upstream';
import { Stack, startStack } from './support/stack';

jest.setTimeout(120_000);

const F_PATHS = [
  '/backend-api/sentinel/chat-requirements/prepare',
  '/backend-api/sentinel/chat-requirements/finalize',
  '/backend-api/f/conversation/prepare',
  '/backend-api/f/conversation',
];
const CLASSIC_PATHS = ['/backend-api/sentinel/chat-requirements', '/backend-api/conversation'];

/** Both send flows (UPSTREAM_FLOW), through the official SDK, against a fake that speaks both generations. */
describe('Upstream send flows', () => {
  let fake: FakeUpstream;
  const stacks: Partial<Record<'f' | 'classic' | 'auto', Stack>> = {};

  beforeAll(async () => {
    fake = await FakeUpstream.start();
    for (const flow of ['f', 'classic', 'auto'] as const)
      stacks[flow] = await startStack({ fakeUpstream: fake, env: { UPSTREAM_FLOW: flow } });
  });
  afterAll(async () => {
    for (const stack of Object.values(stacks)) await stack.close();
    await fake.close();
  });
  beforeEach(() => fake.reset());

  const posts = (token: string): RecordedRequest[] =>
    fake.requests.filter((r) => r.method === 'POST' && r.headers.authorization === `Bearer ${token}`);
  const paths = (token: string) => posts(token).map((r) => r.path);

  async function chat(flow: 'f' | 'classic' | 'auto', token: string, text: string): Promise<string | null> {
    fake.enqueue({ kind: 'text', text });
    const completion = await stacks[flow]!.openai(token).chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Say it' }],
    });
    return completion.choices[0].message.content;
  }

  async function stream(flow: 'f' | 'classic' | 'auto', token: string, text: string): Promise<string> {
    fake.enqueue({ kind: 'text', text, chunks: 6 });
    const chunks = await stacks[flow]!.openai(token).chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Stream it' }],
      stream: true,
    });
    let answer = '';
    for await (const chunk of chunks) answer += chunk.choices[0]?.delta.content ?? '';
    return answer;
  }

  describe('UPSTREAM_FLOW=f', () => {
    it('answers a chat through prepare/finalize, f/conversation/prepare and f/conversation, with the web app headers', async () => {
      const token = fake.createAccessToken();
      expect(await chat('f', token, 'Hello through f.')).toBe('Hello through f.');
      expect(paths(token)).toEqual(F_PATHS);

      const [prepare, finalize, conduit, conversation] = posts(token);
      expect(conduit.headers['x-conduit-token']).toBe('no-token');
      expect(conversation.headers['x-conduit-token']).toMatch(/^ct_/);
      expect(conversation.headers['oai-client-version']).toBe(BUILD_ID);
      expect(conversation.headers['oai-client-build-number']).toBe(BUILD_NUMBER);
      expect(conversation.headers['x-openai-target-path']).toBe('/backend-api/f/conversation');
      expect(conversation.headers['openai-sentinel-chat-requirements-token']).toMatch(/^gAAAAAB/);
      expect(conversation.headers['openai-sentinel-proof-token']).toBe((finalize.body as { proofofwork: string }).proofofwork);
      expect(conversation.headers.accept).toBe('text/event-stream');
      // One turn: the same trace id on every call, the account's one device id, the same browser.
      const traceIds = new Set([prepare, finalize, conduit, conversation].map((r) => r.headers['x-oai-turn-trace-id']));
      expect(traceIds.size).toBe(1);
      expect([...traceIds][0]).toMatch(/^[0-9a-f-]{36}$/);
      for (const call of [prepare, finalize, conduit, conversation]) {
        expect(call.headers['oai-device-id']).toBe(prepare.headers['oai-device-id']);
        expect(call.headers['user-agent']).toBe(prepare.headers['user-agent']);
        expect(call.headers['oai-language']).toBe('zh-CN');
      }
      if (String(prepare.headers['user-agent']).includes('Chrome/')) expect(conversation.headers['sec-ch-ua']).toContain('Chromium');
    });

    it('streams on the new flow', async () => {
      const token = fake.createAccessToken();
      expect(await stream('f', token, 'A streamed answer through f.')).toBe('A streamed answer through f.');
      expect(paths(token)).toEqual(F_PATHS);
    });

    it('does not fall back for an account without the new flow: the client is told', async () => {
      const token = fake.createAccessToken();
      fake.setGeneration(token, 'classic');
      await expect(chat('f', token, 'never')).rejects.toMatchObject({ status: 404 });
      expect(paths(token)).toEqual(['/backend-api/sentinel/chat-requirements/prepare']);
    });
  });

  describe('UPSTREAM_FLOW=classic', () => {
    it('answers a chat and a stream through chat-requirements and /conversation only', async () => {
      const token = fake.createAccessToken();
      expect(await chat('classic', token, 'Hello, classic.')).toBe('Hello, classic.');
      expect(await stream('classic', token, 'A classic stream.')).toBe('A classic stream.');
      expect(paths(token)).toEqual([...CLASSIC_PATHS, ...CLASSIC_PATHS]);
      expect(posts(token)[1].headers['x-conduit-token']).toBeUndefined();
    });
  });

  describe('UPSTREAM_FLOW=auto', () => {
    it('uses the new flow for an account that has it', async () => {
      const token = fake.createAccessToken();
      expect(await chat('auto', token, 'Auto chose f.')).toBe('Auto chose f.');
      expect(paths(token)).toEqual(F_PATHS);
    });

    it('falls back once for an account that refuses the new flow, then goes straight to the classic one', async () => {
      const token = fake.createAccessToken();
      fake.setGeneration(token, 'classic');
      expect(await chat('auto', token, 'Fell back.')).toBe('Fell back.');
      expect(fake.flows.newPathRefusals).toBe(1);
      expect(paths(token)).toEqual(['/backend-api/sentinel/chat-requirements/prepare', ...CLASSIC_PATHS]);

      expect(await stream('auto', token, 'Remembered.')).toBe('Remembered.');
      expect(fake.flows.newPathRefusals).toBe(1);
      expect(paths(token)).toEqual(['/backend-api/sentinel/chat-requirements/prepare', ...CLASSIC_PATHS, ...CLASSIC_PATHS]);

      // Another account on the same instance is not affected by what this one answered.
      const other = fake.createAccessToken();
      expect(await chat('auto', other, 'Still f.')).toBe('Still f.');
      expect(paths(other)).toEqual(F_PATHS);
    });
  });
});
