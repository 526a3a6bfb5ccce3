import { AnswerWriter } from './answer-writer';

describe('AnswerWriter', () => {
  it('starts a paragraph with exactly one blank line, and not at the very start', () => {
    const writer = new AnswerWriter();
    writer.startParagraph();
    writer.content('A');
    writer.startParagraph();
    writer.content('B\n');
    writer.startParagraph();
    writer.content('C\n\n');
    writer.startParagraph();
    expect(writer.take()).toEqual([{ type: 'content', text: 'A\n\nB\n\nC\n\n' }]);
  });

  it('closes a fence only for another owner, and before media', () => {
    const writer = new AnswerWriter();
    writer.openFence('python', 'm2');
    writer.content('x');
    writer.closeFenceUnlessOwnedBy('m2');
    writer.media({ type: 'image', fileId: 'f' });
    writer.closeFence();
    expect(writer.take()).toEqual([
      { type: 'content', text: '\n```python\nx\n```\n\n' },
      { type: 'image', fileId: 'f' },
    ]);
  });

  it('keeps content and reasoning apart, joining neighbours of the same type', () => {
    const writer = new AnswerWriter();
    writer.reasoning('a');
    writer.reasoning('b');
    writer.content('');
    writer.content('c');
    writer.signal({ type: 'finish', reason: 'stop' });
    expect(writer.hasReasoning).toBe(true);
    expect(writer.take()).toEqual([
      { type: 'reasoning', text: 'ab' },
      { type: 'content', text: 'c' },
      { type: 'finish', reason: 'stop' },
    ]);
    expect(writer.take()).toEqual([]);
  });
});
