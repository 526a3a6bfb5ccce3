import { UpstreamUpdate } from './upstream-message';
import { readMessage, UpstreamMessageDecoder } from './upstream-message-decoder';

type Json = Record<string, unknown>;

function assistant(id: string, text: string, extra: Json = {}): Json {
  return {
    id,
    author: { role: 'assistant' },
    content: { content_type: 'text', parts: [text] },
    status: 'in_progress',
    recipient: 'all',
    metadata: {},
    ...extra,
  };
}

function event(data: unknown, name?: string): { event?: string; data: string } {
  return { event: name, data: typeof data === 'string' ? data : JSON.stringify(data) };
}

describe('readMessage', () => {
  it('reads prose for the user, with its text, citations and stop reason', () => {
    const view = readMessage(
      assistant('m2', 'Paris', {
        status: 'finished_successfully',
        end_turn: true,
        metadata: {
          finish_details: { type: 'stop' },
          citations: [{ metadata: { url: 'https://p.example', title: 'P' } }, { url: '', title: 'no link' }],
        },
      }),
    );
    expect(view).toEqual({
      id: 'm2',
      role: 'assistant',
      kind: { type: 'text' },
      text: 'Paris',
      thoughts: [],
      citations: [
        { url: 'https://p.example', title: 'P' },
        { url: undefined, title: 'no link' },
      ],
      images: [],
      finished: true,
      endTurn: true,
      stopReason: 'stop',
    });
  });

  it.each([
    ['max_tokens', 'length'],
    ['interrupted', 'interrupted'],
    ['stop', 'stop'],
    ['anything_else', 'stop'],
  ])('reads finish_details %s as the stop reason %s', (type, reason) => {
    expect(readMessage(assistant('m2', '', { metadata: { finish_details: { type } } })).stopReason).toBe(reason);
  });

  it('labels code with its language, else with the tool it is for; the image prompt always with its tool', () => {
    const code = (recipient: string, language?: string) =>
      readMessage({ ...assistant('m2', ''), recipient, content: { content_type: 'code', language, text: 'x' } });
    expect(code('python', 'python').kind).toEqual({ type: 'code', label: 'python' });
    expect(code('web', 'unknown').kind).toEqual({ type: 'code', label: 'web' });
    expect(code('all').kind).toEqual({ type: 'code', label: '' });
    expect(code('dalle.text2im', 'json').kind).toEqual({ type: 'code', label: 'dalle.text2im' });
    expect(code('python', 'python').text).toBe('x');
    expect(readMessage({ ...assistant('m2', '{"prompt": "a cat"}'), recipient: 'dalle.text2im' }).kind).toEqual({
      type: 'code',
      label: 'dalle.text2im',
    });
  });

  it('tells tool output, tool activity and messages written for the model apart', () => {
    const tool = (content: Json, metadata: Json = {}) => readMessage({ id: 't', author: { role: 'tool' }, content, metadata });
    expect(tool({ content_type: 'execution_output', text: '2' }).kind).toEqual({ type: 'tool_output' });
    expect(tool({ content_type: 'text', parts: [''] }, { initial_text: 'Searching', finished_text: 'Searched 3 sites' }).kind).toEqual({
      type: 'tool_activity',
      caption: 'Searching',
      finishedText: 'Searched 3 sites',
    });
    expect(tool({ content_type: 'text', parts: ['DALL·E displayed 1 images.'] }).kind).toEqual({ type: 'hidden' });
  });

  it('reads thoughts, the recap and image pointers without their scheme', () => {
    const thoughts = readMessage({
      ...assistant('m2', ''),
      content: { content_type: 'thoughts', thoughts: [{ summary: 'Plan' }, { content: 'Go' }] },
    });
    expect(thoughts.kind).toEqual({ type: 'thoughts' });
    expect(thoughts.thoughts).toEqual([
      { summary: 'Plan', content: '' },
      { summary: '', content: 'Go' },
    ]);
    expect(
      readMessage({ ...assistant('m3', ''), content: { content_type: 'reasoning_recap', content: 'Thought for 2 seconds' } }).kind,
    ).toEqual({
      type: 'recap',
      text: 'Thought for 2 seconds',
    });
    const parts = [
      { content_type: 'image_asset_pointer', asset_pointer: 'file-service://file-a' },
      { content_type: 'image_asset_pointer', asset_pointer: 'sediment://file_b' },
      'caption',
    ];
    expect(readMessage({ id: 't', author: { role: 'tool' }, content: { content_type: 'multimodal_text', parts } }).images).toEqual([
      'file-a',
      'file_b',
    ]);
    expect(readMessage(assistant('m2', 'no images')).images).toEqual([]);
  });
});

describe('UpstreamMessageDecoder', () => {
  it('reads a classic snapshot as the message with the conversation id, and remembers the id', () => {
    const decoder = new UpstreamMessageDecoder();
    const [update] = decoder.decode(event({ message: assistant('m2', 'Hi'), conversation_id: 'c1', error: null }));
    expect(update).toMatchObject({ type: 'message', conversationId: 'c1', message: { id: 'm2', text: 'Hi' } });
    expect(decoder.decode(event({ type: 'title_generation', title: 'T', conversation_id: 'c2' }))).toEqual([]);
    expect(decoder.conversationId).toBe('c2');
    expect(decoder.decode(event({ message: assistant('m2', 'Hi!') }))).toMatchObject([{ type: 'message', conversationId: 'c2' }]);
  });

  it('reads [DONE], errors, and only blocking moderation events', () => {
    const decoder = new UpstreamMessageDecoder();
    expect(decoder.decode(event('[DONE]'))).toEqual([{ type: 'done' }]);
    expect(decoder.decode(event({ type: 'moderation', moderation_response: { flagged: true, blocked: false } }))).toEqual([]);
    expect(decoder.decode(event({ type: 'moderation', moderation_response: { flagged: true } }))).toEqual([{ type: 'moderated' }]);
    expect(decoder.decode(event({ type: 'moderation' }))).toEqual([{ type: 'moderated' }]);
    expect(decoder.decode(event({ error: 'Boom', message: assistant('m2', 'x') }))).toEqual([
      { type: 'error', message: 'Boom', code: 'upstream_stream_error' },
    ]);
    expect(decoder.decode(event({ error: { detail: 'Slow down', type: 'rate_limit' } }))).toEqual([
      { type: 'error', message: 'Slow down', code: 'rate_limit' },
    ]);
    expect(decoder.decode(event('not json'))).toEqual([]);
  });

  it('reports each delta append to the text as it came, then the message it made', () => {
    const decoder = new UpstreamMessageDecoder();
    expect(decoder.decode(event('"v1"', 'delta_encoding'))).toEqual([]);
    expect(
      decoder.decode(event({ p: '', o: 'add', v: { message: assistant('m2', ''), conversation_id: 'c1' }, c: 0 }, 'delta')),
    ).toMatchObject([{ type: 'message', conversationId: 'c1', message: { text: '' } }]);
    const updates = decoder.decode(
      event({
        p: '',
        o: 'patch',
        v: [
          { p: '/message/content/parts/0', o: 'append', v: 'Hel' },
          { p: '/message/content/parts/0', o: 'append', v: 'lo' },
        ],
      }),
    );
    expect(updates.map((update: UpstreamUpdate) => [update.type, 'text' in update ? update.text : undefined])).toEqual([
      ['text_appended', 'Hel'],
      ['text_appended', 'lo'],
      ['message', undefined],
    ]);
    expect(updates[0]).toMatchObject({ message: { text: 'Hel' } });
    expect(updates[2]).toMatchObject({ message: { text: 'Hello' } });
    expect(decoder.decode(event({ v: '!' }))).toMatchObject([
      { type: 'text_appended', text: '!' },
      { type: 'message', message: { text: 'Hello!' } },
    ]);
  });

  it('reports appends to a thought with its index, but not replacements of the text', () => {
    const decoder = new UpstreamMessageDecoder();
    const thoughts = { ...assistant('m2', ''), content: { content_type: 'thoughts', thoughts: [{ summary: 'A', content: '' }] } };
    decoder.decode(event({ p: '', o: 'add', v: { message: thoughts }, c: 0 }, 'delta'));
    expect(decoder.decode(event({ p: '/message/content/thoughts/0/content', o: 'append', v: 'Think' }, 'delta'))).toMatchObject([
      { type: 'thought_appended', index: 0, text: 'Think' },
      { type: 'message', message: { thoughts: [{ summary: 'A', content: 'Think' }] } },
    ]);
    expect(decoder.decode(event({ p: '/message/status', o: 'replace', v: 'finished_successfully' }, 'delta'))).toMatchObject([
      { type: 'message', message: { finished: true } },
    ]);
  });

  it('skips a delta that does not fit the document, keeping what it applied before', () => {
    const decoder = new UpstreamMessageDecoder();
    decoder.decode(event({ p: '', o: 'add', v: { message: assistant('m2', '') }, c: 0 }, 'delta'));
    const updates = decoder.decode(
      event(
        {
          p: '',
          o: 'patch',
          v: [
            { p: '/message/content/parts/0', o: 'append', v: 'ok' },
            { p: '/message/nowhere/deep', o: 'append', v: 'x' },
          ],
        },
        'delta',
      ),
    );
    expect(updates).toMatchObject([
      { type: 'text_appended', text: 'ok' },
      { type: 'message', message: { text: 'ok' } },
    ]);
  });
});
