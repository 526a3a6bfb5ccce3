import { argumentPieces, textAfterRound } from './answer-contract';

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

describe('textAfterRound', () => {
  const call = { id: 'call_1', name: 'get_weather', arguments: '{}' };

  it('lets the first round go on with the text it held back', () => {
    expect(textAfterRound(0, 'Let me', { content: ' check.', toolCalls: [call] })).toBe(' check.');
    expect(textAfterRound(0, '', { content: 'Hi.', toolCalls: [] })).toBe('Hi.');
  });

  it("adds a corrective round's text answer after what was shown, as a paragraph of its own", () => {
    expect(textAfterRound(1, 'Let me check.', { content: 'Which city do you mean?', toolCalls: [] })).toBe('\n\nWhich city do you mean?');
    expect(textAfterRound(1, 'Let me check.\n', { content: 'Which city?', toolCalls: [] })).toBe('Which city?');
    expect(textAfterRound(1, '', { content: 'Which city?', toolCalls: [] })).toBe('Which city?');
  });

  it("drops a corrective round's text before a call when text was shown already (it repeats it)", () => {
    expect(textAfterRound(1, 'Let me check.', { content: 'Let me check.', toolCalls: [call] })).toBe('');
    expect(textAfterRound(1, '', { content: 'Checking.', toolCalls: [call] })).toBe('Checking.');
  });
});
