import { AnswerAssembler, type AnswerEvent } from './answer-assembler';
import { TokenCounter } from './token-counter';
import type { TranslatedPiece } from './translation/upstream-stream-translator';

async function* batches(...pieces: TranslatedPiece[][]): AsyncGenerator<TranslatedPiece[]> {
  for (const batch of pieces) yield batch;
}

async function assemble(assembler: AnswerAssembler, ...pieces: TranslatedPiece[][]): Promise<AnswerEvent[]> {
  const events: AnswerEvent[] = [];
  for await (const batch of assembler.events(batches(...pieces))) events.push(...batch);
  return events;
}

const contentOf = (events: AnswerEvent[]) => events.map((event) => (event.type === 'delta' ? (event.content ?? '') : '')).join('');

describe('AnswerAssembler with REASONING_OUTPUT=think and max_tokens', () => {
  const counter = new TokenCounter();
  const assembler = (maxTokens: number) =>
    new AnswerAssembler(
      { reasoningOutput: 'think', maxTokens, encoding: 'o200k_base', resolveImage: async () => null, resolveSandboxFile: async () => null },
      counter,
    );
  const reasoning = 'I should think about this carefully for a while before answering the user, step by step.';

  it('closes the <think> block and shows the answer up to the limit: reasoning does not count against max_tokens', async () => {
    const events = await assemble(
      assembler(3),
      [{ type: 'reasoning', text: reasoning }],
      [{ type: 'content', text: 'The final answer is forty two.' }],
      [{ type: 'finish', reason: 'stop' }],
    );
    const content = contentOf(events);
    expect(events.at(-1)).toEqual({ type: 'finish', reason: 'length' });
    expect(content.startsWith(`<think>\n${reasoning}\n</think>\n\n`)).toBe(true);
    const answer = content.slice(`<think>\n${reasoning}\n</think>\n\n`.length);
    expect(answer).not.toBe('');
    expect('The final answer is forty two.'.startsWith(answer)).toBe(true);
  });

  it('cuts the last answer delta at the token boundary, as without reasoning, instead of dropping it whole', async () => {
    const events = await assemble(
      assembler(12),
      [{ type: 'reasoning', text: reasoning }],
      [{ type: 'content', text: 'The final ' }],
      [{ type: 'content', text: 'answer is forty two, as everyone knows, and nobody doubts it.' }],
      [{ type: 'finish', reason: 'stop' }],
    );
    const answer = contentOf(events).split('</think>\n\n')[1];
    // Near the limit the answer is counted exactly: the <think> block before it is no part of that count.
    expect(answer.startsWith('The final answer is')).toBe(true);
    expect(counter.count(answer, 'o200k_base')).toBe(12);
  });
});

describe('AnswerAssembler: max_tokens reached by a generated file link', () => {
  const counter = new TokenCounter();
  const url = 'https://files.example.com/files/AbCdEfGhIjKlMnOpQrStUvWxYz012345';
  const assembler = (maxTokens: number) =>
    new AnswerAssembler(
      {
        reasoningOutput: 'reasoning_content',
        maxTokens,
        encoding: 'o200k_base',
        resolveImage: async () => url,
        resolveSandboxFile: async () => url,
      },
      counter,
    );
  const conversation: TranslatedPiece = { type: 'conversation', conversationId: 'conv-1', messageId: 'msg-1' };

  it.each<[string, TranslatedPiece]>([
    ['an image', { type: 'image', fileId: 'file-1' }],
    ['a sandbox file', { type: 'sandbox_file', path: '/mnt/data/result.csv', messageId: 'msg-1' }],
  ])('leaves out %s link that does not fit whole and ends with finish_reason length', async (_name, media) => {
    const events = await assemble(
      assembler(8),
      [conversation, { type: 'content', text: 'Here it is:' }],
      [media],
      [{ type: 'content', text: 'Anything after the link.' }],
      [{ type: 'finish', reason: 'stop' }],
    );
    expect(contentOf(events)).toBe('Here it is:');
    expect(events.at(-1)).toEqual({ type: 'finish', reason: 'length' });
  });

  it('shows a link that fits whole', async () => {
    const events = await assemble(
      assembler(100),
      [{ type: 'content', text: 'Here it is:' }],
      [{ type: 'image', fileId: 'file-1' }],
      [{ type: 'finish', reason: 'stop' }],
    );
    expect(contentOf(events)).toBe(`Here it is:\n![image](${url})\n`);
    expect(events.at(-1)).toEqual({ type: 'finish', reason: 'stop' });
  });
});
