import { jsonNestingExceeds, MAX_JSON_DEPTH } from './json-depth';

const bytes = (text: string) => Buffer.from(text, 'utf8');
const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

describe('jsonNestingExceeds', () => {
  it('allows nesting up to the limit and refuses one level more', () => {
    expect(jsonNestingExceeds(bytes(nested(MAX_JSON_DEPTH)))).toBe(false);
    expect(jsonNestingExceeds(bytes(nested(MAX_JSON_DEPTH + 1)))).toBe(true);
    expect(jsonNestingExceeds(bytes(`{"a":${nested(3)}}`), 3)).toBe(true);
  });

  it('counts siblings by their own depth, not their sum', () => {
    expect(jsonNestingExceeds(bytes(`[${Array.from({ length: 100 }, () => nested(3)).join(',')}]`), 4)).toBe(false);
  });

  it('ignores brackets inside strings, escaped quotes included', () => {
    expect(jsonNestingExceeds(bytes(JSON.stringify({ text: '[{'.repeat(1000) })), 2)).toBe(false);
    expect(jsonNestingExceeds(bytes(JSON.stringify({ text: 'say \\" and "[[[[' })), 2)).toBe(false);
    expect(jsonNestingExceeds(bytes(`{"a\\"":${nested(3)}}`), 3)).toBe(true);
  });
});
