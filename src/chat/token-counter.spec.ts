import { growthRatio, LINEAR_GROWTH_LIMIT } from '../common/testing/growth';
import { encode } from 'gpt-tokenizer/cjs/encoding/o200k_base';
import type { ChatMessageDto } from './dto/chat-completion.dto';
import { imageTokens, MAX_RUN_CHARS, TokenCounter } from './token-counter';

const exact = (text: string) => encode(text, { disallowedSpecial: new Set() }).length;

const WORDS =
  'the quick brown fox jumps over a lazy dog while seven wizards quietly judge boxing matches, 42 times; naïve café — 東京 日本語'.split(
    ' ',
  );

/** Ordinary prose of about `chars` characters, with punctuation, digits, newlines and non-Latin words. */
function prose(chars: number): string {
  let out = '';
  for (let i = 0; out.length < chars; i++) out += WORDS[(i * 7) % WORDS.length] + (i % 13 === 12 ? '.\n\n' : ' ');
  return out;
}

describe('TokenCounter', () => {
  const counter = new TokenCounter();

  it.each([
    ['a sentence', 'Hello, world! How are you today?'],
    ['code', 'function add(a, b) {\n  return a + b;\n}\n\nconsole.log(add(1, 2));\n'],
    ['prose longer than one slice', prose(200_000)],
    ['words separated by runs of spaces', 'alpha     beta\t\t\tgamma\n\n\n\ndelta'],
  ])('counts %s exactly as the encoder does', (_name, text) => {
    expect(counter.count(text, 'o200k_base')).toBe(exact(text));
  });

  it('counts whole prompts the same way asynchronously', async () => {
    const text = prose(100_000);
    await expect(counter.countAsync(text, 'o200k_base')).resolves.toBe(exact(text));
  });

  it('counts the refusals and tool calls of assistant turns in a prompt', async () => {
    const none = () => 0;
    const ask = { role: 'user', content: 'Can you help?' } as ChatMessageDto;
    const base = await counter.countPrompt([ask], 'o200k_base', none);
    const refusal = 'I cannot help with that request, sorry.';
    const refused = { role: 'assistant', content: [{ type: 'refusal', refusal }] } as ChatMessageDto;
    const withRefusal = await counter.countPrompt([ask, refused], 'o200k_base', none);
    const emptyTurn = await counter.countPrompt([ask, { role: 'assistant', content: [] } as unknown as ChatMessageDto], 'o200k_base', none);
    expect(withRefusal - emptyTurn).toBe(exact(refusal));
    expect(emptyTurn).toBeGreaterThan(base);

    const args = '{"city":"Paris","unit":"celsius"}';
    const calling = {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: args } }],
    } as unknown as ChatMessageDto;
    const silent = { role: 'assistant', content: null } as unknown as ChatMessageDto;
    const withCall = await counter.countPrompt([ask, calling], 'o200k_base', none);
    const withoutCall = await counter.countPrompt([ask, silent], 'o200k_base', none);
    expect(withCall - withoutCall).toBe(exact('get_weather') + exact(args));
  });

  it('stays within a token per cut of the exact count for a run longer than a piece', () => {
    const run = 'A'.repeat(MAX_RUN_CHARS * 8 + 17);
    const cuts = Math.ceil(run.length / MAX_RUN_CHARS);
    expect(Math.abs(counter.count(run, 'o200k_base') - exact(run))).toBeLessThanOrEqual(cuts);
  });

  it('counts an unbroken run of one character in time linear in its length', () => {
    const count = (chars: number) => expect(counter.count('A'.repeat(chars), 'o200k_base')).toBeGreaterThan(0);
    // 16× the run may cost at most 48× as much: quadratic growth would cost about 256×.
    expect(growthRatio(count, 32 * 1024)).toBeLessThanOrEqual(LINEAR_GROWTH_LIMIT);
  });

  it('counts runs of varied letters and of whitespace in linear time too', () => {
    // Pseudo-random letters, new ones for every run: no piece repeats, so the encoder's cache cannot hide the cost.
    let state = 12345;
    const letters = (n: number) => {
      const bytes = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) {
        state = (state * 1103515245 + 12345) % 2147483648;
        bytes[i] = 97 + (state % 26);
      }
      return bytes.toString('latin1');
    };
    const countFresh = (chars: number) => expect(counter.count(letters(chars), 'cl100k_base')).toBeGreaterThan(0);
    expect(growthRatio(countFresh, 2 * 1024)).toBeLessThanOrEqual(LINEAR_GROWTH_LIMIT);

    const spaces = ' '.repeat(1024 * 1024);
    expect(counter.count(spaces, 'o200k_base')).toBeGreaterThan(0);
  });

  it('truncates a long run to a prefix that fits', () => {
    const run = 'Q'.repeat(1024 * 1024);
    const kept = counter.truncate(run, 10, 'o200k_base');
    expect(run.startsWith(kept)).toBe(true);
    expect(kept.length).toBeGreaterThan(0);
    expect(counter.count(kept, 'o200k_base')).toBeLessThanOrEqual(10);
    const sentence = prose(5_000);
    expect(counter.truncate(sentence, 1_000_000, 'o200k_base')).toBe(sentence);
    expect(exact(counter.truncate(sentence, 50, 'o200k_base'))).toBeLessThanOrEqual(50);
  });

  describe('truncate at a character that spans tokens', () => {
    // Most of these take two or three tokens each in cl100k_base.
    const chinese = '你好世界，今天天气很好';

    it('returns a prefix of the text, never a cut character (U+FFFD)', () => {
      for (let maxTokens = 1; maxTokens <= 8; maxTokens++) {
        const cut = counter.truncate(chinese, maxTokens, 'cl100k_base');
        expect({ maxTokens, cut, prefix: chinese.startsWith(cut) }).toEqual({
          maxTokens,
          cut: expect.not.stringContaining('\uFFFD'),
          prefix: true,
        });
        expect(counter.count(cut, 'cl100k_base')).toBeLessThanOrEqual(maxTokens);
      }
    });

    it('does not carry bytes of one cut into the next one', () => {
      counter.truncate(chinese, 3, 'cl100k_base');
      const next = counter.truncate('世界', 2, 'cl100k_base');
      expect('世界'.startsWith(next)).toBe(true);
      expect(next).not.toContain('\uFFFD');
    });

    it('keeps a character outside the Basic Multilingual Plane whole or not at all', () => {
      const emoji = 'ok 🦊🦊🦊 done';
      for (let maxTokens = 1; maxTokens <= exact(emoji); maxTokens++) {
        const cut = counter.truncate(emoji, maxTokens, 'o200k_base');
        expect(emoji.startsWith(cut)).toBe(true);
        expect(cut).not.toMatch(/[\uD800-\uDBFF]$/);
        expect(exact(cut)).toBeLessThanOrEqual(maxTokens);
      }
    });
  });
});

describe('imageTokens', () => {
  it.each([
    [512, 512, 255],
    [1024, 1024, 765],
    [4096, 2048, 1105],
    // 2048/2050 scales 513 to 512.5: truncated to 512 it is one column of tiles, not two (openai-api.md §8).
    [513, 2050, 765],
    [2050, 513, 765],
    [604, 2414, 765],
  ])('%i x %i costs %i tokens', (width, height, tokens) => {
    expect(imageTokens(width, height)).toBe(tokens);
  });

  it('costs 85 at low detail whatever the size', () => {
    expect(imageTokens(4096, 4096, 'low')).toBe(85);
  });
});
