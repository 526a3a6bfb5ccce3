import { matchOpening, ToolCallScanner } from './tool-call.scanner';

/** Feeds the text in pieces of `size` characters; returns what was released and the final scan. */
function scan(text: string, size: number, holdAll = false) {
  const scanner = new ToolCallScanner(holdAll);
  let released = '';
  for (let i = 0; i < text.length; i += size) released += scanner.push(text.slice(i, i + size));
  return { released, result: scanner.end() };
}

const CALL = 'Let me look.\n<tool_calls>\n[{"name":"get_weather","arguments":{"city":"Paris"}}]\n</tool_calls>\nIt is sunny.';

describe('ToolCallScanner', () => {
  it.each([1, 2, 3, 7, 1000])('finds the block and never releases protocol text, in pieces of %i', (size) => {
    const { released, result } = scan(CALL, size);
    expect(released).not.toContain('<');
    expect(CALL.startsWith(released)).toBe(true);
    expect(result.before).toBe('Let me look.');
    expect(released + result.unreleased).toBe(result.before);
    expect(JSON.parse(result.block!)).toEqual([{ name: 'get_weather', arguments: { city: 'Paris' } }]);
    expect(result.closed).toBe(true);
  });

  it('streams plain text through at once, holding back only a possible block start and the line break before it', () => {
    const scanner = new ToolCallScanner();
    expect(scanner.push('Hello ')).toBe('Hello ');
    expect(scanner.push('world.\n')).toBe('world.');
    expect(scanner.push('<tool')).toBe('');
    expect(scanner.push('bar> is a tag.')).toBe('\n<toolbar> is a tag.');
    expect(scanner.push('\n  ')).toBe('');
    expect(scanner.push('x')).toBe('\n  x');
    expect(scanner.end()).toMatchObject({ block: null, before: 'Hello world.\n<toolbar> is a tag.\n  x', unreleased: '' });
  });

  it('does not treat the tag in the middle of a sentence as a call', () => {
    const text = 'Write <tool_calls> on its own line to call a tool.';
    const { released, result } = scan(text, 4);
    expect(released).toBe(text);
    expect(result.block).toBeNull();
  });

  const INLINE = 'Let me look that up. <tool_calls> [{"name":"get_weather","arguments":{"city":"Paris"}}]</tool_calls> It is sunny.';

  it.each([1, 2, 3, 7, 1000])('finds a block written after text on the same line, in pieces of %i', (size) => {
    for (const holdAll of [false, true]) {
      const { released, result } = scan(INLINE, size, holdAll);
      expect(released).not.toContain('<');
      expect(result.before).toBe('Let me look that up.');
      // A space before the tag may have gone out before the tag arrived; the whole answer is trimmed.
      expect((released + result.unreleased).trimEnd()).toBe(result.before);
      expect(JSON.parse(result.block!)).toEqual([{ name: 'get_weather', arguments: { city: 'Paris' } }]);
      expect(result.closed).toBe(true);
    }
  });

  it.each([
    ['prose naming the tag', 'Models write <tool_calls> before the JSON, e.g. <tool_calls>, then a list.'],
    ['an unfinished tag', 'A tag like <tool_calls [{"a":1}] is not one.'],
    ['an inline code span', 'Write `<tool_calls>[{"name":"f","arguments":{}}]</tool_calls>` to call f.'],
    ['a fenced example', 'Example:\n```html\nThen <tool_calls>[{"name":"f","arguments":{}}]</tool_calls>\n```\nThat is all.'],
    ['a tilde fence', 'Example:\n~~~\nx = "<tool_calls>[1]"\n~~~\nDone.'],
  ])('passes %s through intact', (_name, text) => {
    for (const size of [1, 3, 1000]) {
      const { released, result } = scan(text, size);
      expect(released + result.unreleased).toBe(text);
      expect(result.block).toBeNull();
    }
  });

  it('finds an inline block after a fenced example has closed', () => {
    const text = 'Example:\n```\nx <tool_calls>[1]\n```\nNow: <tool_calls>[{"name":"f","arguments":{}}]</tool_calls>';
    const { released, result } = scan(text, 2);
    expect(result.before).toBe('Example:\n```\nx <tool_calls>[1]\n```\nNow:');
    expect(released.trimEnd()).toBe('Example:\n```\nx <tool_calls>[1]\n```\nNow:');
    expect(result.block).toBe('[{"name":"f","arguments":{}}]');
  });

  it('holds a code fence line until the next line shows what it opens', () => {
    const scanner = new ToolCallScanner();
    expect(scanner.push('Code:\n```py')).toBe('Code:');
    expect(scanner.push('thon\n')).toBe('');
    expect(scanner.push('print(1)\n```\n')).toBe('\n```python\nprint(1)');
    expect(scanner.push('Done.')).toBe('\n```\nDone.');
    expect(scanner.end()).toMatchObject({ block: null, unreleased: '' });
  });

  it('accepts a block wrapped in a code fence and drops the fence', () => {
    const { released, result } = scan('```xml\n<tool_calls>\n[{"name":"f","arguments":{}}]\n</tool_calls>\n```', 3);
    expect(released).toBe('');
    expect(result.block!.trim()).toBe('[{"name":"f","arguments":{}}]');
  });

  it.each([1, 4, 1000])('takes a closing tag inside a JSON string as text, in pieces of %i', (size) => {
    const quoted = '<tool_calls>\n[{"name":"f","arguments":{"note":"a </tool_calls> \\" </tool_calls> b"}}]\n</tool_calls>\nafter';
    const { result } = scan(quoted, size);
    expect(result.closed).toBe(true);
    expect(JSON.parse(result.block!)).toEqual([{ name: 'f', arguments: { note: 'a </tool_calls> " </tool_calls> b' } }]);
  });

  it('keeps a block that was never closed, marked as such', () => {
    const { result } = scan('<tool_calls>\n[{"name":"f","arguments":{}}]', 5);
    expect(result).toMatchObject({ before: '', closed: false });
    expect(result.block!.trim()).toBe('[{"name":"f","arguments":{}}]');
  });

  it('releases a held partial start when the answer ends', () => {
    const { released, result } = scan('Almost a tag:\n<tool_c', 100);
    expect(released).toBe('Almost a tag:');
    expect(result).toMatchObject({ block: null, unreleased: '\n<tool_c', before: 'Almost a tag:\n<tool_c' });
  });

  it('holds everything back when asked to, and still finds the block', () => {
    const { released, result } = scan(CALL, 2, true);
    expect(released).toBe('');
    expect(result.unreleased).toBe('Let me look.');
    expect(result.block).toContain('get_weather');
  });

  it('holds everything back when asked to, without a block', () => {
    const { released, result } = scan('just text\nmore', 3, true);
    expect(released).toBe('');
    expect(result).toMatchObject({ block: null, unreleased: 'just text\nmore' });
  });
});

describe('matchOpening', () => {
  it.each([
    ['', 'partial'],
    ['  ', 'partial'],
    ['<', 'partial'],
    ['<tool_cal', 'partial'],
    ['`', 'partial'],
    ['```json', 'partial'],
    ['```json\n', 'partial'],
    ['```json\n<tool', 'partial'],
    ['<tool_calls>', 'full'],
    ['  <tool_calls>[', 'full'],
    ['```\n<tool_calls>', 'full'],
    ['hello', 'none'],
    ['<b>', 'none'],
    ['``x', 'none'],
    ['```json\n{', 'none'],
    ['```json x', 'none'],
  ])('%j is %s', (line, kind) => {
    expect(matchOpening(line).kind).toBe(kind);
  });
});
