import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT, runCommand, stopAllCommands, type Command } from '../support/command';
import { http, startServer, stopAllServers, type ServerProcess } from '../support/process';

/**
 * `npm run fake` (issue 9): the fake upstream as a dev tool. It prints the variables to paste and ready
 * tokens, mints more on `POST /_fake/tokens`, and queues a named answer for the next chat request through
 * FlowGPT on `POST /_fake/scenario`.
 */
jest.setTimeout(180_000);

describe('npm run fake', () => {
  let tool: Command;
  let server: ServerProcess;
  let printed: Record<string, string[]>;
  const dataDir = mkdtempSync(join(tmpdir(), 'flowgpt-fake-tool-'));
  const fakeUrl = () => printed.CHATGPT_BASE_URL[0];
  const chat = (apiKey: string) =>
    http('POST', `${server.url}/v1/chat/completions`, {
      headers: { authorization: `Bearer ${apiKey}` },
      json: { model: 'gpt-4o', messages: [{ role: 'user', content: 'What is 6 times 7?' }] },
    });

  beforeAll(async () => {
    tool = runCommand('npm', ['run', 'fake', '--', '--port', '0'], { cwd: PROJECT_ROOT, env: {} });
    const deadline = Date.now() + 120_000;
    while (!/^REFRESH_TOKEN=/m.test(tool.output())) {
      if (Date.now() > deadline) throw new Error(`npm run fake printed no tokens:\n${tool.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    printed = {};
    for (const [, name, value] of tool.output().matchAll(/^([A-Z_]+)=(\S+)$/gm)) (printed[name] ??= []).push(value);
    server = await startServer(
      { CHATGPT_BASE_URL: fakeUrl(), AUTH_BASE_URL: printed.AUTH_BASE_URL[0], DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
      { readyTimeoutMs: 120_000 },
    );
  });
  afterAll(async () => {
    await stopAllServers();
    await stopAllCommands();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints the lines to paste and ready tokens that FlowGPT accepts', async () => {
    expect(fakeUrl()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(printed.AUTH_BASE_URL).toEqual([fakeUrl()]);
    // The gateway's chat page loads its scripts from CDN_BASE_URL: without it, from the real CDN.
    expect(printed.CDN_BASE_URL).toEqual([fakeUrl()]);
    expect(printed.ACCESS_TOKEN.length).toBeGreaterThanOrEqual(2);
    expect(printed.REFRESH_TOKEN).toHaveLength(1);
    expect(tool.output()).toContain(`curl -X POST ${fakeUrl()}/_fake/scenario`);

    for (const key of [printed.ACCESS_TOKEN[0], printed.REFRESH_TOKEN[0]]) {
      const answer = await chat(key);
      expect({
        status: answer.status,
        content: (answer.json as { choices?: { message: { content: string } }[] }).choices?.[0].message.content,
      }).toEqual({
        status: 200,
        content: 'Hello! How can I help you today?',
      });
    }
  });

  it('mints tokens', async () => {
    const access = await http('POST', `${fakeUrl()}/_fake/tokens`, { json: { kind: 'access' } });
    expect(access.status).toBe(201);
    expect(access.json).toEqual({ kind: 'access', token: expect.stringMatching(/^eyJ/) });
    const refresh = await http('POST', `${fakeUrl()}/_fake/tokens`, { json: { kind: 'refresh' } });
    expect(refresh.json).toEqual({ kind: 'refresh', token: expect.stringMatching(/^rt_/) });
    expect((await chat((refresh.json as { token: string }).token)).status).toBe(200);
    const session = await http('POST', `${fakeUrl()}/_fake/tokens`, { json: { kind: 'session' } });
    expect(session.json).toEqual({ kind: 'session', token: expect.stringMatching(/^eyJhbGciOiJkaXIi[^.]*\.\.[^.]+\.[^.]+\.[^.]+$/) });
    expect((await chat((session.json as { token: string }).token)).status).toBe(200);
    expect((await http('POST', `${fakeUrl()}/_fake/tokens`, { json: { kind: 'bogus' } })).status).toBe(400);
  });

  it('queues a named scenario for the next chat request only', async () => {
    const minted = ((await http('POST', `${fakeUrl()}/_fake/tokens`, { json: {} })).json as { token: string }).token;
    const queued = await http('POST', `${fakeUrl()}/_fake/scenario`, { json: { name: 'reasoning' } });
    expect(queued.status).toBe(201);

    const reasoned = await chat(minted);
    expect(reasoned.status).toBe(200);
    const message = (reasoned.json as { choices: { message: { content: string; reasoning_content?: string } }[] }).choices[0].message;
    expect(message.content).toBe('The answer is 42.');
    expect(message.reasoning_content).toContain('6 times 7 is 42.');

    const plain = await chat(minted);
    expect((plain.json as { choices: { message: { content: string } }[] }).choices[0].message.content).toBe(
      'Hello! How can I help you today?',
    );

    await http('POST', `${fakeUrl()}/_fake/scenario`, { json: { name: '429' } });
    const limited = await chat(minted);
    expect(limited.status).toBe(429);
    expect((limited.json as { error: { type: string } }).error).toBeDefined();

    expect((await http('POST', `${fakeUrl()}/_fake/scenario`, { json: { name: 'no-such-thing' } })).status).toBe(400);
  });
});
