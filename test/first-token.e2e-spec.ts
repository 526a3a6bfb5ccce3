import http from 'node:http';
import { Stack, startStack } from './support/stack';

jest.setTimeout(120_000);

/** Streams a chat completion and resolves with the first content delta, the response still open. */
function firstContent(url: string, token: string): Promise<{ text: string; request: http.ClientRequest }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${url}/v1/chat/completions`,
      { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } },
      (response) => {
        let buffered = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          buffered += chunk;
          for (const block of buffered.split('\n\n').slice(0, -1)) {
            if (!block.startsWith('data: {')) continue;
            const text = (JSON.parse(block.slice(6)) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content;
            if (text) return resolve({ text, request });
          }
        });
        response.on('end', () => reject(new Error('the stream ended before any content')));
      },
    );
    request.on('error', reject);
    request.end(JSON.stringify({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'a long answer' }] }));
  });
}

describe('first token', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.close());

  it('reaches the client while the upstream still holds the end of a long answer', async () => {
    const words = Array.from({ length: 3000 }, (_, k) => `word${k}`);
    // The fake sends every piece but the last at once, then holds the stream open far longer than this test runs.
    stack.fake.enqueue({ kind: 'stall', text: words.join(' '), afterChunks: words.length - 1, stallMs: 600_000 });
    const { text, request } = await firstContent(stack.url, stack.fake.createAccessToken());
    expect(text.startsWith('word0')).toBe(true);
    // The upstream's answer is still open: the first token did not wait for its end.
    expect(stack.fake.openStreams).toBe(1);
    request.destroy();
  });
});
