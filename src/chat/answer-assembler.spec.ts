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

describe('AnswerAssembler with stop strings', () => {
  const counter = new TokenCounter();
  const url = 'https://files.example.com/files/Observation-1';
  const assembler = (options: { stop: string[]; maxTokens?: number; reasoningOutput?: 'think' | 'reasoning_content' }) =>
    new AnswerAssembler(
      {
        reasoningOutput: options.reasoningOutput ?? 'reasoning_content',
        maxTokens: options.maxTokens,
        stop: options.stop,
        encoding: 'o200k_base',
        resolveImage: async () => url,
        resolveSandboxFile: async () => url,
      },
      counter,
    );

  it('ends the answer before a stop string split across batches, with finish stop, and reads no further batch', async () => {
    let pulled = 0;
    let closed = false;
    async function* upstream(): AsyncGenerator<TranslatedPiece[]> {
      try {
        for (const text of ['Thought: look it up\nObs', 'ervation: 42', ' and more', ' and more']) {
          pulled++;
          yield [{ type: 'content', text }];
        }
        yield [{ type: 'finish', reason: 'stop' }];
      } finally {
        closed = true;
      }
    }
    const events: AnswerEvent[] = [];
    for await (const batch of assembler({ stop: ['Observation:'] }).events(upstream())) events.push(...batch);
    expect(contentOf(events)).toBe('Thought: look it up\n');
    expect(events.at(-1)).toEqual({ type: 'finish', reason: 'stop' });
    expect(events.filter((event) => event.type === 'finish')).toHaveLength(1);
    // The upstream is let go as soon as the stop string is complete.
    expect(pulled).toBe(2);
    expect(closed).toBe(true);
  });

  it('releases held text at the end of the answer and keeps the upstream finish reason', async () => {
    const a = assembler({ stop: ['Observation:'] });
    const events = await assemble(a, [{ type: 'content', text: 'All done. Obser' }], [{ type: 'finish', reason: 'length' }]);
    expect(contentOf(events)).toBe('All done. Obser');
    expect(a.content).toBe('All done. Obser');
    expect(events.at(-1)).toEqual({ type: 'finish', reason: 'length' });
  });

  it('does not cut the thoughts: a stop string in the reasoning is shown, the answer is cut (REASONING_OUTPUT=think too)', async () => {
    for (const reasoningOutput of ['think', 'reasoning_content'] as const) {
      const a = assembler({ stop: ['END'], reasoningOutput });
      const events = await assemble(
        a,
        [{ type: 'reasoning', text: 'I will write END at the end.' }],
        [{ type: 'content', text: 'The answer. END and beyond' }],
        [{ type: 'finish', reason: 'stop' }],
      );
      expect(a.reasoning).toBe('I will write END at the end.');
      expect(events.at(-1)).toEqual({ type: 'finish', reason: 'stop' });
      const answer = reasoningOutput === 'think' ? contentOf(events).split('</think>\n\n')[1] : contentOf(events);
      expect(answer).toBe('The answer. ');
    }
  });

  it('ends with length when max_tokens comes before the stop string, with stop when the stop string comes first', async () => {
    const text = 'One two three four five six seven eight. STOP nine ten';
    const short = await assemble(
      assembler({ stop: ['STOP'], maxTokens: 3 }),
      [{ type: 'content', text }],
      [{ type: 'finish', reason: 'stop' }],
    );
    expect(events(short)).toEqual({ content: 'One two three', finish: 'length' });
    const long = await assemble(
      assembler({ stop: ['STOP'], maxTokens: 50 }),
      [{ type: 'content', text }],
      [{ type: 'finish', reason: 'stop' }],
    );
    expect(events(long)).toEqual({ content: 'One two three four five six seven eight. ', finish: 'stop' });

    function events(all: AnswerEvent[]) {
      const finish = all.find((event) => event.type === 'finish');
      return { content: contentOf(all), finish: finish?.type === 'finish' && finish.reason };
    }
  });

  it('never cuts a file link: held text goes out before it, and a stop string in its URL does not count', async () => {
    const events = await assemble(
      assembler({ stop: ['Observation'] }),
      [{ type: 'content', text: 'Here: Observ' }],
      [{ type: 'image', fileId: 'file-1' }],
      [{ type: 'content', text: 'ation, then Observation: more' }],
      [{ type: 'finish', reason: 'stop' }],
    );
    expect(contentOf(events)).toBe(`Here: Observ\n![image](${url})\nation, then `);
    expect(events.at(-1)).toEqual({ type: 'finish', reason: 'stop' });
  });
});
