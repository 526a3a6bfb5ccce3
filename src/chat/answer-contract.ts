import { ApiError } from '../common/errors/api-error';
import type { ChatMessageDto } from './dto/chat-completion.dto';

/** A tool call ready for the client: an id, the function name and its arguments as a JSON string. */
export interface EmittedToolCall {
  id: string;
  name: string;
  arguments: string;
}

const ARGUMENT_PIECE_CHARS = 48;

/**
 * The pieces a stream sends a call's arguments in (both APIs, as OpenAI streams them): about 48 UTF-16 units each,
 * never cut between the two halves of a surrogate pair, which a client decoding each piece would turn into U+FFFD.
 */
export function argumentPieces(args: string): string[] {
  const pieces: string[] = [];
  for (let at = 0; at < args.length;) {
    let end = Math.min(at + ARGUMENT_PIECE_CHARS, args.length);
    if (end < args.length && isHighSurrogate(args.charCodeAt(end - 1))) end++;
    pieces.push(args.slice(at, end));
    at = end;
  }
  return pieces;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** What a whole round's answer amounts to once the upstream finished it. */
export type Verdict =
  | {
      ok: true;
      /** Answer text not yet released by `push` (the caller adds it after the released text). */
      content: string;
      toolCalls: EmittedToolCall[];
    }
  | {
      ok: false;
      /** What is wrong, for the client's error and for the corrective message to the model. */
      problem: string;
      /** The user message that asks the model to repair its answer (one corrective round). */
      correction: string;
      /** Error code when no correction is left. */
      code: 'invalid_tool_call' | 'missing_tool_call' | 'invalid_structured_output';
      /**
       * What may be shown when the token limit or the content filter cut the answer (its unusable state is then
       * no fault): the text the reader held back, never protocol text. The client gets it with that finish reason.
       */
      cut: string;
    };

/** Reads one round of answer text as it streams in. */
export interface AnswerReader {
  /** Takes new answer text; returns the part that may be shown to the client now (never protocol text). */
  push(text: string): string;
  /** The round is complete: judges the whole answer. */
  end(): Verdict;
}

/**
 * What the answer of a request must look like beyond plain text (emulated tools, JSON output), and how the
 * conversation tells the model so. The plain contract passes everything through.
 */
export interface AnswerContract {
  /** The messages for the first round: the client's, with instructions added and tool turns rendered as text. */
  readonly messages: ChatMessageDto[];
  /**
   * Whether the answer is plain text, with no protocol text in it (emulated tool calls, JSON to validate): only
   * then does the request's `stop` cut it, since a cut inside a call block or a JSON answer would break it.
   */
  readonly plainText: boolean;
  /** A reader for a round (round 0 is the first answer; later rounds are corrective ones). */
  reader(round: number): AnswerReader;
}

/** How many corrective rounds a request may cost the upstream. */
export const MAX_CORRECTIVE_ROUNDS = 1;

/** The next round's messages: the answer as the model gave it, then the request to repair it. */
export function correctiveMessages(messages: ChatMessageDto[], answer: string, correction: string): ChatMessageDto[] {
  return [...messages, { role: 'assistant', content: answer }, { role: 'user', content: correction }];
}

/**
 * The text the last round's verdict adds to what earlier rounds already showed the client (`shown`). The first
 * round just goes on. A corrective round that calls a function was asked for the call only: text before it
 * repeats what the client has, so it counts only when nothing was shown. One that answers in text gives the
 * answer itself, which follows the shown text as a paragraph of its own, in a stream and in a whole answer alike.
 */
export function textAfterRound(round: number, shown: string, verdict: { content: string; toolCalls: EmittedToolCall[] }): string {
  if (round === 0 || !shown) return verdict.content;
  if (verdict.toolCalls.length || !verdict.content.trim()) return '';
  return `${/\s$/.test(shown) ? '' : '\n\n'}${verdict.content.trimStart()}`;
}

/** No emulation: every character is released at once and every answer is fine. */
export function plainContract(messages: ChatMessageDto[]): AnswerContract {
  return {
    messages,
    plainText: true,
    reader: () => ({ push: (text) => text, end: () => ({ ok: true, content: '', toolCalls: [] }) }),
  };
}

/** Inserts system text after the client's own leading system/developer messages, so theirs stays first. */
export function withSystemText(messages: ChatMessageDto[], text: string): ChatMessageDto[] {
  let at = 0;
  while (at < messages.length && (messages[at].role === 'system' || messages[at].role === 'developer')) at++;
  return [...messages.slice(0, at), { role: 'system', content: text }, ...messages.slice(at)];
}

/**
 * The answer stayed unusable after the corrective round. 502: the request was fine and the upstream model
 * produced an answer that does not meet the contract; a retry may well succeed (the SDKs retry 5xx). An answer
 * the token limit or the content filter cut is no such failure: it ends with that finish reason instead.
 */
export function invalidAnswerError(verdict: Extract<Verdict, { ok: false }>): ApiError {
  return ApiError.of(
    verdict.code,
    { problem: verdict.problem, suffix: ' A corrective round did not fix it.' },
    { upstream: { step: 'conversation' } },
  );
}
