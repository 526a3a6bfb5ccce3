import { Injectable } from '@nestjs/common';
import type { ChatMessageDto, ContentPart } from './dto/chat-completion.dto';

interface Encoding {
  encode(text: string, options?: { disallowedSpecial?: Set<string> }): number[];
  decode(tokens: number[]): string;
}

export type EncodingName = 'o200k_base' | 'cl100k_base';

const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_REPLY = 3;

/** o200k_base for the 4o, 4.1, 4.5, 5 and o-series names, cl100k_base otherwise (openai-api.md §8). */
export function encodingFor(model: string): EncodingName {
  return /gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|chatgpt-4o|(^|[^a-z])o\d/.test(model) ? 'o200k_base' : 'cl100k_base';
}

/** Counts tokens with the bundled BPE tables (no network); special-token text counts as plain text. */
@Injectable()
export class TokenCounter {
  private readonly encodings = new Map<EncodingName, Encoding>();

  count(text: string, encoding: EncodingName): number {
    return text ? this.encoding(encoding).encode(text, PLAIN_TEXT).length : 0;
  }

  /** The longest prefix of `text` that fits in `maxTokens` tokens. */
  truncate(text: string, maxTokens: number, encoding: EncodingName): string {
    const enc = this.encoding(encoding);
    const tokens = enc.encode(text, PLAIN_TEXT);
    return tokens.length <= maxTokens ? text : enc.decode(tokens.slice(0, maxTokens));
  }

  /** Prompt tokens the way OpenAI counts a chat: per-message overhead plus every string field and text part. */
  countPrompt(messages: ChatMessageDto[], encoding: EncodingName, attachmentTokens: (part: ContentPart) => number): number {
    let total = TOKENS_PER_REPLY;
    for (const message of messages) {
      total += TOKENS_PER_MESSAGE + this.count(message.role, encoding);
      if (message.name) total += this.count(message.name, encoding);
      if (typeof message.content === 'string') total += this.count(message.content, encoding);
      else if (Array.isArray(message.content)) {
        for (const part of message.content) total += part.type === 'text' ? this.count(String((part as { text?: unknown }).text ?? ''), encoding) : attachmentTokens(part);
      }
    }
    return total;
  }

  private encoding(name: EncodingName): Encoding {
    let encoding = this.encodings.get(name);
    if (!encoding) {
      // Loaded on first use: each table costs a few hundred milliseconds and tens of megabytes.
      encoding = (name === 'o200k_base' ? require('gpt-tokenizer/cjs/encoding/o200k_base') : require('gpt-tokenizer/cjs/encoding/cl100k_base')) as Encoding;
      this.encodings.set(name, encoding);
    }
    return encoding;
  }
}

/** OpenAI's image cost: fit in 2048×2048, shorter side to 768, 170 per 512-pixel tile plus 85. */
export function imageTokens(width: number, height: number, detail: 'low' | 'high' | 'auto' = 'auto'): number {
  if (detail === 'low') return 85;
  let w = width;
  let h = height;
  if (Math.max(w, h) > 2048) {
    const scale = 2048 / Math.max(w, h);
    w *= scale;
    h *= scale;
  }
  if (Math.min(w, h) > 768) {
    const scale = 768 / Math.min(w, h);
    w *= scale;
    h *= scale;
  }
  return 170 * Math.ceil(w / 512) * Math.ceil(h / 512) + 85;
}
