import { Script } from 'node:vm';
import { accountSecretsRewriter, neutralValueFor } from './account-secrets';
import { rewritingStream, TextRewriter } from './text-rewriter';
import type { BrowserAccount, BrowserSession } from '../../auth/browser-session';

describe('TextRewriter', () => {
  it('replaces every exact occurrence in one pass, longest match first', () => {
    const rewriter = new TextRewriter([
      ['https://chatgpt.com', 'X'],
      ['https://chatgpt.com/backend-api/', 'https://gw/backend-api/'],
    ]);
    expect(rewriter.apply('a https://chatgpt.com/backend-api/me b https://chatgpt.com/c').text).toBe('a https://gw/backend-api/me b X/c');
  });

  it('does not rewrite what it has just written', () => {
    const rewriter = new TextRewriter([
      ['a', 'b'],
      ['b', 'c'],
    ]);
    expect(rewriter.apply('ab').text).toBe('bc');
  });

  it('treats the strings as text, not patterns, and says whether anything changed', () => {
    const rewriter = new TextRewriter([['a.b(c)', 'x']]);
    expect(rewriter.apply('aXb(c) a.b(c)')).toEqual({ text: 'aXb(c) x', changed: true });
    expect(rewriter.apply('nothing')).toEqual({ text: 'nothing', changed: false });
    expect(new TextRewriter([]).apply('same')).toEqual({ text: 'same', changed: false });
  });

  it('finds a JWT inside a doubly escaped turbo-stream string', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJl-_x';
    const embedded = JSON.stringify(JSON.stringify([{ _1: 2 }, 'accessToken', jwt]));
    expect(new TextRewriter([[jwt, 'stand-in']]).apply(embedded).text).toBe(
      JSON.stringify(JSON.stringify([{ _1: 2 }, 'accessToken', 'stand-in'])),
    );
  });
});

describe('rewritingStream', () => {
  const rewriter = new TextRewriter([['pool.person@example.com', 'user@flowgpt.invalid']]);

  async function through(chunks: string[], maxLineBytes = 1024): Promise<{ out: string[]; error?: Error }> {
    const stream = rewritingStream(rewriter, maxLineBytes);
    const out: string[] = [];
    stream.on('data', (chunk: Buffer) => out.push(chunk.toString('utf8')));
    const ended = new Promise<Error | undefined>((resolve) => {
      stream.on('end', () => resolve(undefined));
      stream.on('error', resolve);
    });
    for (const chunk of chunks) stream.write(Buffer.from(chunk, 'utf8'));
    stream.end();
    return { out, error: await ended };
  }

  it('sends every complete line at once, rewritten, and holds only the unfinished one', async () => {
    const { out } = await through(['data: {"a":"pool.person@exa', 'mple.com"}\n\ndata: 1\n\ndata: pool.', 'person@example.com']);
    expect(out).toEqual(['data: {"a":"user@flowgpt.invalid"}\n\ndata: 1\n\n', 'data: user@flowgpt.invalid']);
  });

  it('keeps a character split between chunks whole', async () => {
    const bytes = Buffer.from('é pool.person@example.com\n', 'utf8');
    const stream = rewritingStream(rewriter, 1024);
    const out: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => out.push(chunk));
    stream.write(bytes.subarray(0, 1));
    stream.end(bytes.subarray(1));
    await new Promise((resolve) => stream.on('end', resolve));
    expect(Buffer.concat(out).toString('utf8')).toBe('é user@flowgpt.invalid\n');
  });

  it('fails on a line too long to hold', async () => {
    const { error } = await through(['x'.repeat(600), 'x'.repeat(600)]);
    expect(error?.message).toMatch(/cannot be rewritten/);
  });
});

describe('accountSecretsRewriter', () => {
  const account: BrowserAccount = {
    accessToken: 'eyJreal.token.value',
    fingerprintKey: 'k',
    sessionToken: 'session-token-value',
    privateIdentifiers: ['owner@example.com', 'owner', 'user-abcdefghijklmnopqrstuvwx', 'bob'],
  };
  const session = (kind: 'owner' | 'seed'): BrowserSession => ({ id: 's', kind, standInToken: 'stand-in', createdAt: 0, expiresAt: 1 });
  const text = 'eyJreal.token.value owner@example.com user-abcdefghijklmnopqrstuvwx session-token-value bob';

  it('gives an owner the stand-in for the token and keeps their own identity', () => {
    expect(accountSecretsRewriter(session('owner'), account).apply(text).text).toBe(
      'stand-in owner@example.com user-abcdefghijklmnopqrstuvwx flowgpt-redacted bob',
    );
  });

  it('gives a seed neutral values for the account identifiers (too short ones are left to the scrubber)', () => {
    expect(accountSecretsRewriter(session('seed'), account).apply(text).text).toBe(
      'stand-in user@flowgpt.invalid user-flowgpt flowgpt-redacted bob',
    );
  });

  it('gives a seed a page that still boots when a name is a word of the page (a workspace named "script")', () => {
    const named: BrowserAccount = { ...account, privateIdentifiers: ['owner@example.com', 'script', 'default', 'Kim'] };
    const context = JSON.stringify([{ _1: 2, _3: 4, _5: 6 }, 'workspaceName', 'script', 'name', 'Kim', 'structure', 'default']);
    const page =
      '<html><head><script nonce="n">window.ctx={"mode":"default"};document.createElement(\'script\');</script></head><body>' +
      `<script nonce="n">window.streamController.enqueue(${JSON.stringify(context + '\n')});</script>` +
      '<script type="application/json">{"workspace":{"name":"script"},"email":"owner@example.com"}</script></body></html>';
    const out = accountSecretsRewriter(session('seed'), named).apply(page).text;
    const scripts = [...out.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts).toHaveLength(3);
    // Code still parses and the tags are whole; the names are gone from the string values.
    expect(() => new Script(scripts[0][2])).not.toThrow();
    const enqueued = /enqueue\(("(?:[^"\\]|\\.)*")\)/.exec(scripts[1][2])?.[1] ?? '';
    const values = JSON.parse((JSON.parse(enqueued) as string).trim()) as unknown[];
    expect(values).not.toContain('script');
    expect(values).not.toContain('Kim');
    expect(values).toContain('FlowGPT User');
    expect(JSON.parse(scripts[2][2])).toEqual({ workspace: { name: 'FlowGPT User' }, email: 'user@flowgpt.invalid' });
    expect(out).toContain("document.createElement('script')");
  });

  it('keeps the kind of each identifier', () => {
    expect(neutralValueFor('+1 555 0100')).toBe('+10000000000');
    expect(neutralValueFor('0e6f8a3c-2b1d-4c5e-9f70-123456789abc')).toBe('00000000-0000-4000-8000-000000000000');
    expect(neutralValueFor('Alice Example')).toBe('FlowGPT User');
    expect(neutralValueFor('https://s.gravatar.com/avatar/0bc83cb571cd1c50ba6f3e8a78ef1346?s=480')).toBe('');
    expect(neutralValueFor('0BC83CB571CD1C50BA6F3E8A78EF1346')).toBe('00000000000000000000000000000000');
  });
});
