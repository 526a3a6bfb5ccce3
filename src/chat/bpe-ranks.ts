import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { EncodingName } from './token-counter';

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** A byte above 0x7f in a string of one character per byte. */
const NON_ASCII = /[\x80-\xff]/;

/**
 * An encoding's BPE ranks in gpt-tokenizer's own form (index = rank; a token's text when its bytes are UTF-8 that
 * decodes and encodes back to the same bytes, else its bytes), read from the `data/<name>.tiktoken` file the package
 * ships: one base64 token and its rank per line, OpenAI's format.
 *
 * gpt-tokenizer's `encoding/<name>` modules hold the same ranks as a JavaScript array literal (2.4 MB for o200k_base),
 * and compiling that leaves the process about 20 MB larger for good (the parser's memory stays with the allocator);
 * reading this file takes a little longer (about 0.2 s against 0.15 s, once) and leaves nothing behind.
 * `bpe-ranks.spec.ts` checks both encodings against the package's own modules.
 */
export function bpeRanks(name: EncodingName): (string | number[])[] {
  const file = readFileSync(join(packageRoot(), 'data', `${name}.tiktoken`), 'latin1');
  const ranks: (string | number[])[] = [];
  // Line by line with indexOf rather than split: 200 000 line strings alive at once would grow the heap for good.
  for (let start = 0; start < file.length;) {
    let end = file.indexOf('\n', start);
    if (end === -1) end = file.length;
    const space = file.indexOf(' ', start);
    if (space > start && space < end) {
      const rank = Number(file.slice(space + 1, end));
      // atob gives one character per byte: the token itself when it is ASCII, as it most often is.
      const bytes = atob(file.slice(start, space));
      // Ranks without a token (none in OpenAI's files so far) are holes, as in the package's modules.
      while (ranks.length < rank) ranks.push('');
      ranks.push(NON_ASCII.test(bytes) ? utf8Token(Buffer.from(bytes, 'latin1')) : bytes);
    }
    start = end + 1;
  }
  return ranks;
}

function utf8Token(bytes: Buffer): string | number[] {
  try {
    const text = utf8.decode(bytes);
    // The decoder drops a leading byte-order mark: such a token keeps its bytes, as in the package's modules.
    if (Buffer.byteLength(text) === bytes.length) return text;
  } catch {
    // Not UTF-8 (part of a multi-byte character): the bytes themselves.
  }
  return Array.from(bytes);
}

function packageRoot(): string {
  // The package's exports map names `./package.json`, and the data folder sits beside it.
  return dirname(require.resolve('gpt-tokenizer/package.json'));
}
