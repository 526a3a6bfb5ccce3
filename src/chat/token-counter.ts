import { Injectable } from '@nestjs/common';
import { bpeRanks } from './bpe-ranks';
import { type AttachmentPart, type ChatMessageDto, isAttachmentPart } from './dto/chat-completion.dto';

interface Encoding {
  encode(text: string, options?: { disallowedSpecial?: Set<string> }): number[];
}

/** An encoding and its BPE ranks (index = token: its text, or its bytes when they are not whole UTF-8 characters). */
interface LoadedEncoding {
  encoder: Encoding;
  ranks: (string | number[])[];
}

export type EncodingName = 'o200k_base' | 'cl100k_base';

const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_REPLY = 3;

/** o200k_base for the 4o, 4.1, 4.5, 5 and o-series names, cl100k_base otherwise (openai-api.md §8). */
export function encodingFor(model: string): EncodingName {
  return /gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|chatgpt-4o|(^|[^a-z])o\d/.test(model) ? 'o200k_base' : 'cl100k_base';
}

/**
 * Longest stretch of one character class (whitespace or not) given to the BPE in one piece. The merge loop
 * costs about the square of a piece's length, so an unbroken run of one character (a 160 kB "AAAA…" prompt)
 * would hold the event loop for tens of seconds; cut into pieces this long it costs time linear in the text.
 */
export const MAX_RUN_CHARS = 256;
/** Text encoded between two turns of the event loop in the asynchronous counts. */
const SLICE_CHARS = 32 * 1024;
const LONG_RUN = new RegExp(`\\S{${MAX_RUN_CHARS + 1},}|\\s{${MAX_RUN_CHARS + 1},}`, 'g');

/**
 * Counts tokens with the bundled BPE tables (no network); special-token text counts as plain text.
 * Text is encoded in bounded pieces (see `MAX_RUN_CHARS`): exact for ordinary text, within a token per cut
 * for runs longer than that. The `…Async` forms yield to the event loop between slices, for whole prompts.
 */
@Injectable()
export class TokenCounter {
  private readonly encodings = new Map<EncodingName, LoadedEncoding>();

  count(text: string, encoding: EncodingName): number {
    let total = 0;
    for (const slice of slices(text)) total += this.countSlice(slice, encoding);
    return total;
  }

  async countAsync(text: string, encoding: EncodingName): Promise<number> {
    let total = 0;
    let first = true;
    for (const slice of slices(text)) {
      if (!first) await nextTurn();
      first = false;
      total += this.countSlice(slice, encoding);
    }
    return total;
  }

  /**
   * The longest prefix of `text` that fits in `maxTokens` tokens and ends between two characters. A character
   * can span tokens (most CJK ones do in cl100k_base): the kept tokens' bytes then end inside it, and the cut
   * steps back to the character's start rather than showing a U+FFFD. The cut is found in `text` itself, by the
   * tokens' byte lengths: gpt-tokenizer's `decode` shares one streaming `TextDecoder` across the process, which
   * keeps such a partial character and prefixes it to whatever it decodes next.
   */
  truncate(text: string, maxTokens: number, encoding: EncodingName): string {
    const { encoder, ranks } = this.encoding(encoding);
    let used = 0;
    let offset = 0;
    for (const slice of slices(text)) {
      for (const piece of pieces(slice)) {
        const tokens = encoder.encode(piece, PLAIN_TEXT);
        if (used + tokens.length > maxTokens) {
          let keptBytes = 0;
          for (const token of tokens.slice(0, maxTokens - used)) keptBytes += byteLength(ranks[token]);
          return text.slice(0, offset + wholeCharactersWithin(piece, keptBytes));
        }
        used += tokens.length;
        offset += piece.length;
      }
    }
    return text;
  }

  /** Prompt tokens the way OpenAI counts a chat: per-message overhead plus every string field and text part. */
  async countPrompt(
    messages: ChatMessageDto[],
    encoding: EncodingName,
    attachmentTokens: (part: AttachmentPart) => number,
  ): Promise<number> {
    let total = TOKENS_PER_REPLY;
    for (const message of messages) {
      total += TOKENS_PER_MESSAGE + this.count(message.role, encoding);
      if (message.name) total += await this.countAsync(message.name, encoding);
      if (typeof message.content === 'string') total += await this.countAsync(message.content, encoding);
      else if (Array.isArray(message.content)) {
        for (const part of message.content) {
          if (part.type === 'text') total += await this.countAsync(part.text, encoding);
          else if (part.type === 'refusal') total += await this.countAsync(part.refusal, encoding);
          else if (isAttachmentPart(part)) total += attachmentTokens(part);
        }
      }
      // An assistant turn's tool calls are text the model wrote: their names and arguments count.
      for (const call of message.tool_calls ?? []) {
        total += this.count(call.function.name, encoding) + (await this.countAsync(call.function.arguments, encoding));
      }
    }
    return total;
  }

  private countSlice(slice: string, encoding: EncodingName): number {
    const { encoder } = this.encoding(encoding);
    let total = 0;
    for (const piece of pieces(slice)) total += encoder.encode(piece, PLAIN_TEXT).length;
    return total;
  }

  private encoding(name: EncodingName): LoadedEncoding {
    let encoding = this.encodings.get(name);
    if (!encoding) {
      // Loaded on first use (a stream without `include_usage` and without `max_tokens` never counts): each table costs
      // a tenth of a second or so and tens of megabytes. `count` is synchronous, so the load is too.
      /* eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy synchronous load, see above */
      const { GptEncoding } = require('gpt-tokenizer/cjs/GptEncoding') as typeof import('gpt-tokenizer/cjs/GptEncoding');
      // The encoder keeps this same array as its rank table: holding it here costs nothing.
      const ranks = bpeRanks(name);
      encoding = { encoder: GptEncoding.getEncodingApi(name, () => ranks), ranks };
      this.encodings.set(name, encoding);
    }
    return encoding;
  }
}

/** A token's length in UTF-8 bytes. */
function byteLength(token: string | number[]): number {
  return typeof token === 'string' ? Buffer.byteLength(token, 'utf8') : token.length;
}

/** How many UTF-16 units of `text` make up the whole characters within its first `bytes` UTF-8 bytes. */
function wholeCharactersWithin(text: string, bytes: number): number {
  let units = 0;
  let used = 0;
  for (const character of text) {
    const code = character.codePointAt(0) ?? 0;
    // A lone surrogate is encoded as U+FFFD, three bytes, as TextEncoder does.
    const size = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    if (used + size > bytes) break;
    used += size;
    units += character.length;
  }
  return units;
}

/**
 * Cuts text into slices of about `SLICE_CHARS`, each ending just before the whitespace that leads the next
 * word, where the encoder's pre-tokenizer splits anyway (so the count is unchanged); a slice with no such
 * place is cut at its length, never inside a surrogate pair.
 */
function* slices(text: string): Generator<string> {
  let start = 0;
  while (start < text.length) {
    let end = start + SLICE_CHARS;
    if (end >= text.length) {
      yield text.slice(start);
      return;
    }
    let cut = end;
    while (cut > start + 1 && !(isSpace(text.charCodeAt(cut)) && !isSpace(text.charCodeAt(cut + 1)))) cut--;
    end = cut > start + 1 ? cut : safeCut(text, end);
    yield text.slice(start, end);
    start = end;
  }
}

/** A slice's ordinary text as one piece; runs longer than `MAX_RUN_CHARS` in pieces of that length. */
function* pieces(slice: string): Generator<string> {
  let last = 0;
  for (const match of slice.matchAll(LONG_RUN)) {
    const runStart = match.index;
    const runEnd = runStart + match[0].length;
    if (runStart > last) yield slice.slice(last, runStart);
    let at = runStart;
    while (at < runEnd) {
      const next = at + MAX_RUN_CHARS >= runEnd ? runEnd : safeCut(slice, at + MAX_RUN_CHARS);
      yield slice.slice(at, next);
      at = next;
    }
    last = runEnd;
  }
  if (last < slice.length) yield last === 0 ? slice : slice.slice(last);
}

function isSpace(code: number): boolean {
  return (
    code === 32 ||
    (code >= 9 && code <= 13) ||
    code === 0xa0 ||
    code === 0x3000 ||
    code === 0x2028 ||
    code === 0x2029 ||
    (code >= 0x2000 && code <= 0x200a)
  );
}

/** `at`, or one less when `at` would split a surrogate pair. */
function safeCut(text: string, at: number): number {
  const code = text.charCodeAt(at);
  return code >= 0xdc00 && code <= 0xdfff ? at - 1 : at;
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * OpenAI's image cost: fit in 2048×2048, shorter side to 768, 170 per 512-pixel tile plus 85. Each scaling step
 * truncates the sides to whole pixels, as the image is really resized (openai-api.md §8).
 */
export function imageTokens(width: number, height: number, detail: 'low' | 'high' | 'auto' = 'auto'): number {
  if (detail === 'low') return 85;
  let w = width;
  let h = height;
  if (Math.max(w, h) > 2048) {
    const scale = 2048 / Math.max(w, h);
    w = Math.floor(w * scale);
    h = Math.floor(h * scale);
  }
  if (Math.min(w, h) > 768) {
    const scale = 768 / Math.min(w, h);
    w = Math.floor(w * scale);
    h = Math.floor(h * scale);
  }
  return 170 * Math.ceil(w / 512) * Math.ceil(h / 512) + 85;
}
