import { encode } from 'gpt-tokenizer/cjs/encoding/o200k_base';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeUpstream } from './fake-upstream/fake-upstream';
import { http, type ServerProcess, startServer, stopAllServers } from './support/process';
import { sseData } from './support/stack';

const LOADED_PACKAGES_PRELOAD = join(__dirname, 'support', 'loaded-packages.js');
/** Packages that only some requests or settings need: the start and a plain streamed answer load none of them. */
const LOADED_ON_DEMAND = ['gpt-tokenizer', 'hbs', 'handlebars', 'ajv', 'ioredis', 'socks-proxy-agent'];

/**
 * Start-up time and idle memory (issue 14): the built server loads what only some requests need with the first of
 * them (the BPE tables for usage, Handlebars for pages, Ajv for client schemas), and each works on that first use.
 * The list of loaded packages is read from the real process (`test/support/loaded-packages.js`).
 */
describe('start-up footprint', () => {
  let fake: FakeUpstream;
  let server: ServerProcess;
  let dataDir: string;
  let token: string;

  beforeAll(async () => {
    fake = await FakeUpstream.start({ requireSentinel: false });
    token = fake.createAccessToken();
    dataDir = mkdtempSync(join(tmpdir(), 'flowgpt-footprint-'));
    server = await startServer(
      {
        DATA_DIR: dataDir,
        CHATGPT_BASE_URL: fake.url,
        AUTH_BASE_URL: fake.url,
        ADMIN_KEY: 'footprint-admin-key',
        POW_WORKERS: '2',
        LOG_LEVEL: 'error',
      },
      { nodeArgs: ['-r', LOADED_PACKAGES_PRELOAD] },
    );
  });
  afterAll(async () => {
    await stopAllServers();
    await fake.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The packages the server has loaded so far. */
  const loadedPackages = (): Promise<string[]> =>
    new Promise((resolve) => {
      let seen = '';
      const onData = (chunk: Buffer) => {
        seen += chunk.toString('utf8');
        const match = /LOADED (\[.*\])\n/.exec(seen);
        if (!match) return;
        server.child.stderr!.off('data', onData);
        resolve(JSON.parse(match[1]) as string[]);
      };
      server.child.stderr!.on('data', onData);
      server.child.kill('SIGWINCH');
    });

  const chat = (fields: Record<string, unknown>) =>
    http('POST', `${server.url}/v1/chat/completions`, {
      headers: { authorization: `Bearer ${token}` },
      json: { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], ...fields },
    });

  it('answers a first streamed request without loading what only other requests need', async () => {
    fake.enqueue({ kind: 'text', text: 'Hello from the stream' });
    const streamed = await chat({ stream: true });
    expect(streamed.status).toBe(200);
    const data = sseData(streamed.text);
    expect(data.at(-1)).toBe('[DONE]');
    const text = data
      .slice(0, -1)
      .map((payload) => (JSON.parse(payload) as { choices: { delta: { content?: string } }[] }).choices[0].delta.content ?? '')
      .join('');
    expect(text).toBe('Hello from the stream');

    const loaded = await loadedPackages();
    expect(loaded).toContain('@nestjs/core');
    expect(loaded.filter((name) => LOADED_ON_DEMAND.includes(name))).toEqual([]);
  });

  it('loads the BPE tables, Handlebars and Ajv with the first request that needs each, and they work', async () => {
    fake.enqueue({ kind: 'text', text: 'Hello there, friend!' });
    const whole = await chat({});
    expect(whole.status).toBe(200);
    // OpenAI's count of a chat: 3 per message and 3 for the reply, besides the role and the text.
    const prompt = 3 + 3 + encode('user').length + encode('hi').length;
    const completion = encode('Hello there, friend!').length;
    expect((whole.json as { usage: unknown }).usage).toEqual({
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
    });

    const page = await http('GET', `${server.url}/admin/login`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('name="secret"');

    const badSchema = await chat({ tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'nonsense' } } }] });
    expect(badSchema.status).toBe(400);
    expect(badSchema.text).toMatch(/is not a valid JSON schema/);

    const loaded = await loadedPackages();
    expect(loaded).toEqual(expect.arrayContaining(['gpt-tokenizer', 'hbs', 'ajv']));
  });
});
