import { argumentPieces } from './answer-contract';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe('argumentPieces', () => {
  it('cuts long arguments into pieces of 48 UTF-16 units that join back to them', () => {
    const args = JSON.stringify({ text: 'x'.repeat(100) });
    const pieces = argumentPieces(args);
    expect(pieces.map((piece) => piece.length)).toEqual([48, 48, args.length - 96]);
    expect(pieces.join('')).toBe(args);
    expect(argumentPieces('')).toEqual([]);
  });

  it.each([46, 47, 48])('never cuts a surrogate pair in two (emoji at unit %i)', (at) => {
    const args = `${'a'.repeat(at)}😀${'b'.repeat(60)}😀`;
    const pieces = argumentPieces(args);
    expect(pieces.join('')).toBe(args);
    for (const piece of pieces) expect(piece).not.toMatch(LONE_SURROGATE);
  });
});
