import { ApiError } from '../common/errors/api-error';
import { type InputItem, inputItemsOf, inputItemsPage, MAX_KEPT_INPUT_CHARS } from './input-items';

describe('inputItemsOf', () => {
  it('lists a string input as one user message with an input_text part', () => {
    const [item] = inputItemsOf('Hello');
    expect(item).toEqual({
      id: expect.stringMatching(/^msg_/),
      type: 'message',
      role: 'user',
      status: 'completed',
      content: [{ type: 'input_text', text: 'Hello' }],
    });
  });

  it('keeps the items as sent, in order, with their own ids or new ones', () => {
    const items = inputItemsOf([
      { role: 'assistant', content: 'Earlier answer' },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hi' }], id: 'msg_mine' },
      { type: 'function_call_output', call_id: 'call_1', output: '{}' },
    ]);
    expect(items).toEqual([
      {
        id: expect.stringMatching(/^msg_/),
        type: 'message',
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: 'Earlier answer' }],
      },
      { id: 'msg_mine', type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text: 'Hi' }] },
      { id: expect.stringMatching(/^fc_/), type: 'function_call_output', call_id: 'call_1', output: '{}' },
    ]);
  });

  it('leaves out inline attachment data past MAX_KEPT_INPUT_CHARS, keeping the rest of the items', () => {
    const image = `data:image/png;base64,${'A'.repeat(MAX_KEPT_INPUT_CHARS)}`;
    const small = 'data:image/png;base64,AAAA';
    const content = [
      { type: 'input_text', text: 'Compare' },
      { type: 'input_image', image_url: image, detail: 'auto' },
      { type: 'input_file', filename: 'a.pdf', file_data: 'JVBER' },
    ];
    expect(inputItemsOf([{ role: 'user', content }])[0].content).toEqual([
      { type: 'input_text', text: 'Compare' },
      { type: 'input_image', image_url: null, detail: 'auto' },
      { type: 'input_file', filename: 'a.pdf' },
    ]);
    expect(inputItemsOf([{ role: 'user', content: [{ type: 'input_image', image_url: small }] }])[0].content).toEqual([
      { type: 'input_image', image_url: small },
    ]);
  });
});

describe('inputItemsPage', () => {
  const items: InputItem[] = ['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, type: 'message' }));
  const ids = (page: { data: InputItem[] }) => page.data.map((item) => item.id);

  it('is newest first, 20 a page, by default', () => {
    expect(inputItemsPage(items, {})).toEqual({ object: 'list', data: expect.any(Array), first_id: 'e', last_id: 'a', has_more: false });
    expect(ids(inputItemsPage(items, {}))).toEqual(['e', 'd', 'c', 'b', 'a']);
  });

  it('pages with limit and after, in either order', () => {
    const first = inputItemsPage(items, { order: 'asc', limit: 2 });
    expect([ids(first), first.has_more, first.last_id]).toEqual([['a', 'b'], true, 'b']);
    const second = inputItemsPage(items, { order: 'asc', limit: 2, after: first.last_id! });
    expect([ids(second), second.has_more]).toEqual([['c', 'd'], true]);
    const last = inputItemsPage(items, { order: 'asc', limit: 2, after: 'd' });
    expect([ids(last), last.has_more]).toEqual([['e'], false]);
    expect(ids(inputItemsPage(items, { limit: 2, after: 'd' }))).toEqual(['c', 'b']);
  });

  it('is an empty list with null ids when there is nothing after the cursor', () => {
    expect(inputItemsPage(items, { order: 'asc', after: 'e' })).toEqual({
      object: 'list',
      data: [],
      first_id: null,
      last_id: null,
      has_more: false,
    });
  });

  it('refuses a cursor that is not one of the items', () => {
    expect(() => inputItemsPage(items, { after: 'zz' })).toThrow(ApiError);
  });
});
