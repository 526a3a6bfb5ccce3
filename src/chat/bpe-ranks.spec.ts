import cl100k from 'gpt-tokenizer/cjs/bpeRanks/cl100k_base';
import o200k from 'gpt-tokenizer/cjs/bpeRanks/o200k_base';
import { bpeRanks } from './bpe-ranks';

describe('bpeRanks', () => {
  it.each([
    ['o200k_base', o200k],
    ['cl100k_base', cl100k],
  ] as const)('reads %s exactly as gpt-tokenizer ships it as a module', (name, shipped) => {
    const ranks = bpeRanks(name);
    expect(ranks.length).toBe(shipped.length);
    // Both forms occur: text tokens and byte tokens (parts of multi-byte characters).
    expect(ranks.some((token) => Array.isArray(token))).toBe(true);
    expect(ranks).toStrictEqual(shipped);
  });
});
