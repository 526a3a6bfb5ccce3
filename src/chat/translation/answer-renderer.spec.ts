import { AnswerRenderer } from './answer-renderer';
import { TranslatedPiece } from './answer-writer';
import { MessageView, UpstreamUpdate } from './upstream-message';

function view(id: string, fields: Partial<MessageView> = {}): MessageView {
  return {
    id,
    role: 'assistant',
    kind: { type: 'text' },
    text: '',
    thoughts: [],
    citations: [],
    images: [],
    finished: false,
    endTurn: false,
    ...fields,
  };
}

const message = (fields: MessageView, conversationId?: string): UpstreamUpdate => ({ type: 'message', message: fields, conversationId });

function render(renderer: AnswerRenderer, ...updates: UpstreamUpdate[]): TranslatedPiece[] {
  for (const update of updates) renderer.render(update);
  return renderer.takePieces();
}

function contentOf(pieces: TranslatedPiece[]): string {
  return pieces.map((piece) => (piece.type === 'content' ? piece.text : '')).join('');
}

describe('AnswerRenderer', () => {
  it('fences code under its label and closes the fence when the next message starts', () => {
    const renderer = new AnswerRenderer();
    const pieces = render(
      renderer,
      message(view('m2', { text: 'Let me compute.', finished: true })),
      message(view('m3', { kind: { type: 'code', label: 'python' }, text: 'print(2)' })),
      message(view('m4', { role: 'tool', kind: { type: 'tool_output' }, text: '2', finished: true })),
      message(view('m5', { text: 'Done.' })),
    );
    expect(contentOf(pieces)).toBe('Let me compute.\n```python\nprint(2)\n```\n\n```Output\n2\n```\n\nDone.');
  });

  it('announces each new message once the conversation id is known', () => {
    const renderer = new AnswerRenderer();
    expect(render(renderer, message(view('m2', { text: 'A' })))).toEqual([{ type: 'content', text: 'A' }]);
    expect(render(renderer, message(view('m2', { text: 'AB' }), 'c1'), message(view('m2', { text: 'ABC' }), 'c1'))).toEqual([
      { type: 'conversation', conversationId: 'c1', messageId: 'm2' },
      { type: 'content', text: 'BC' },
    ]);
  });

  it('sends an appended text as it came when it is the whole gain, and re-reads the text when it is not', () => {
    const renderer = new AnswerRenderer();
    render(renderer, message(view('m2', { text: 'Hello' })));
    expect(render(renderer, { type: 'text_appended', message: view('m2', { text: 'Hello there' }), text: ' there' })).toEqual([
      { type: 'content', text: ' there' },
    ]);
    expect(render(renderer, { type: 'text_appended', message: view('m2', { text: 'Hello there, friend' }), text: '!' })).toEqual([
      { type: 'content', text: ', friend' },
    ]);
    expect(render(renderer, { type: 'text_appended', message: view('m2', { text: 'Hello' }), text: '' })).toEqual([]);
    expect(render(renderer, message(view('m2', { text: 'Hello again' })))).toEqual([{ type: 'content', text: ' again' }]);
  });

  it('ignores updates to a message once a newer one appeared, and user or system messages', () => {
    const renderer = new AnswerRenderer();
    const pieces = render(
      renderer,
      message(view('u1', { role: 'user', text: 'hi' })),
      message(view('m2', { text: 'First' })),
      message(view('m3', { text: 'Second' })),
      message(view('m2', { text: 'First, changed' })),
      { type: 'text_appended', message: view('m2', { text: 'First, changed!' }), text: '!' },
      { type: 'thought_appended', message: view('m2', { thoughts: [{ summary: '', content: 'x' }] }), index: 0, text: 'x' },
    );
    expect(pieces).toEqual([{ type: 'content', text: 'First\n\nSecond' }]);
  });

  it('shows a tool at work as a blockquote with single newlines, then its finished line', () => {
    const renderer = new AnswerRenderer();
    const activity = (text: string, finished = false): MessageView =>
      view('t1', { role: 'tool', kind: { type: 'tool_activity', caption: 'Searching', finishedText: 'Searched 2 sites' }, text, finished });
    const pieces = render(
      renderer,
      message(view('m2', { text: 'Let me look.' })),
      message(activity('')),
      message(activity('a.org\n\n')),
      message(activity('a.org\n\n\nb.org', true)),
    );
    expect(contentOf(pieces)).toBe('Let me look.\n\n>Searching\na.org\nb.org\n\n*Searched 2 sites*\n\n---\n\n');
  });

  it('links each citation once, skipping those without a URL and keeping the title inside its quotes', () => {
    const renderer = new AnswerRenderer();
    const first = { url: 'https://a.example', title: 'The "A"' };
    render(renderer, message(view('m2', { text: 'Paris', citations: [first, { title: 'no link' }] })));
    const pieces = render(
      renderer,
      message(view('m2', { text: 'Paris.', citations: [first, { title: 'no link' }, { url: 'https://b.example', title: 'B' }] })),
    );
    expect(contentOf(pieces)).toBe('. **[[""]](https://b.example "B")** ');
  });

  it('sends thoughts and the recap as reasoning, the recap also when its message is left unfinished', () => {
    const renderer = new AnswerRenderer();
    const pieces = render(
      renderer,
      message(view('m2', { kind: { type: 'thoughts' }, thoughts: [{ summary: '', content: '' }] })),
      message(view('m2', { kind: { type: 'thoughts' }, thoughts: [{ summary: 'Plan', content: 'Go' }] })),
      {
        type: 'thought_appended',
        message: view('m2', { kind: { type: 'thoughts' }, thoughts: [{ summary: 'Plan', content: 'Go on' }] }),
        index: 0,
        text: ' on',
      },
      message(view('m3', { kind: { type: 'recap', text: 'Thought for 3 seconds' } })),
      message(view('m4', { text: 'Answer' })),
    );
    expect(pieces).toEqual([
      { type: 'reasoning', text: '**Plan**\n\nGo on\n\n*Thought for 3 seconds*\n' },
      { type: 'content', text: 'Answer' },
    ]);
  });

  it('closes an open fence before images and starts each on its own paragraph', () => {
    const renderer = new AnswerRenderer();
    const pieces = render(
      renderer,
      message(view('m2', { kind: { type: 'code', label: 'dalle.text2im' }, text: '{}' })),
      message(view('t1', { role: 'tool', kind: { type: 'hidden' }, images: ['file-a', 'file-b'] })),
      message(view('t1', { role: 'tool', kind: { type: 'hidden' }, images: ['file-a', 'file-b'], finished: true })),
      message(view('t1', { role: 'tool', kind: { type: 'hidden' }, images: ['file-a', 'file-b'], finished: true })),
    );
    expect(pieces).toEqual([
      { type: 'content', text: '\n```dalle.text2im\n{}\n```\n\n' },
      { type: 'image', fileId: 'file-a' },
      { type: 'content', text: '\n\n' },
      { type: 'image', fileId: 'file-b' },
    ]);
  });

  it('finishes at the end of the turn, reporting sandbox files of a text answer once each', () => {
    const renderer = new AnswerRenderer();
    const text = '[a](sandbox:/mnt/data/a.csv) [again](sandbox:/mnt/data/a.csv)';
    const pieces = render(
      renderer,
      message(view('m2', { text, finished: true, endTurn: true, stopReason: 'stop' })),
      message(view('m3', { text: 'late' })),
    );
    expect(pieces).toEqual([
      { type: 'content', text: `${text}\n\n` },
      { type: 'sandbox_file', path: '/mnt/data/a.csv', messageId: 'm2' },
      { type: 'finish', reason: 'stop' },
    ]);
    expect(renderer.finished).toBe(true);
  });

  it('at the end of the stream, finishes an answer the upstream called complete and leaves others unfinished', () => {
    const cut = new AnswerRenderer();
    render(cut, message(view('m2', { text: 'Long', finished: true, stopReason: 'length' })));
    cut.end();
    expect(cut.takePieces()).toEqual([{ type: 'finish', reason: 'length' }]);

    const unfinished = new AnswerRenderer();
    render(unfinished, message(view('m2', { text: 'Never ends' })));
    unfinished.end();
    expect(unfinished.takePieces()).toEqual([]);
    expect(unfinished.finished).toBe(false);
    expect(unfinished.answerStarted).toBe(true);
  });

  it('replaces the rest of a moderated answer with the configured text, closing an open fence', () => {
    const renderer = new AnswerRenderer('Filtered.');
    const pieces = render(
      renderer,
      message(view('m2', { kind: { type: 'code', label: '' }, text: 'x' })),
      { type: 'moderated' },
      message(view('m2', { text: 'more' })),
    );
    expect(pieces).toEqual([
      { type: 'content', text: '\n```\nx\n```\n\nFiltered.' },
      { type: 'finish', reason: 'content_filter' },
    ]);
  });

  it('renders nothing after an error', () => {
    const renderer = new AnswerRenderer();
    const pieces = render(renderer, { type: 'error', message: 'Boom', code: 'upstream_error' }, message(view('m2', { text: 'x' })), {
      type: 'done',
    });
    expect(pieces).toEqual([{ type: 'error', message: 'Boom', code: 'upstream_error' }]);
    expect(renderer.closed).toBe(true);
    expect(renderer.finished).toBe(false);
    expect(renderer.answerStarted).toBe(false);
  });
});
