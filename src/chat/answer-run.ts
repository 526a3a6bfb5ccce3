import type { ApiError } from '../common/errors/api-error';
import { toApiError, UpstreamError } from '../common/errors/upstream-error';
import type { ReasoningOutputMode } from '../config/app-config';
import type { EmittedToolCall } from './answer-contract';
import type { PinnedBy } from './attempts/attempt-policy';
import type { RequestFiles } from './attachment.service';
import type { AttachmentPart } from './dto/chat-completion.dto';
import type { CompletionMeta, Usage } from './completion-stream';
import type { ResolvedModel } from './models/model-mapping';
import type { EncodingName } from './token-counter';
import type { FinishReason } from './translation/answer-writer';

// The vocabulary of one answer run, shared by the chat completions and the Responses API (which both drive `ChatService.run`).

/** A request's settings, fixed before any upstream work: the model, the ids and the files it carries. */
export interface PreparedChat {
  model: ResolvedModel;
  meta: CompletionMeta;
  encoding: EncodingName;
  historyDisabled: boolean;
  mode: 'json' | 'stream';
  /**
   * Where the upstream's thoughts go: `REASONING_OUTPUT` for chat completions; always `reasoning_content` for the
   * Responses API, which has its own place for them (a `reasoning` item).
   */
  reasoningOutput: ReasoningOutputMode;
  startedAt: number;
  /** Images and files of the request, read once for every attempt. */
  files: RequestFiles;
  /** With a pool key: the pool account the request's conversation lives on, which every round must run on. */
  preferredAccountId?: string;
  /** The request field that pinned it (`AttemptTarget.pinnedBy`). */
  pinnedBy?: PinnedBy;
  /** The field of the client's request each image or file part came from, when it was not a chat message. */
  attachmentParams?: ReadonlyMap<AttachmentPart, string>;
  /** Whose `/v1/files` uploads a `file_id` may name: the digest of the request's API key (`ApiKeyOwner`). */
  fileOwner?: string;
  /**
   * Tokens of the earlier turns a continued conversation already holds upstream, which the request does not repeat:
   * the prompt counts them, as the context the answer runs on (OpenAI's `input_tokens` of a continued response).
   */
  earlierContextTokens?: number;
}

/** What a request's answer amounts to once the last round is judged, independent of any wire format. */
export interface FinishedAnswer {
  /** Answer text that no `delta` carried yet; a stream sends it after them. */
  rest: string;
  /** The answer's whole text, which a non-stream response shows: what the stream showed, then `rest`. */
  content: string;
  toolCalls: EmittedToolCall[];
  finishReason: FinishReason | 'tool_calls';
  /** The upstream's thoughts in the last round (empty when `PreparedChat.reasoningOutput` is `hidden`). */
  reasoning: string;
  /**
   * Counts the prompt and the answer when a wire format shows them: a stream without `include_usage` never
   * does, and counting costs CPU over the whole prompt (and loads the BPE tables on first use).
   */
  countTokens(): Promise<AnswerTokens>;
  /** The upstream conversation and its newest message, to continue from. */
  ids?: { conversationId: string; messageId: string };
  /** The pool account that answered the last round, when the credential drew from the pool (never a token). */
  poolAccountId?: string;
}

/** An answer's token counts: OpenAI's usage, and the thoughts' share of the completion tokens. */
export interface AnswerTokens {
  usage: Usage;
  reasoningTokens: number;
}

/**
 * The answer of one request as it happens, whatever API it is for. `started` comes once the upstream answers
 * (anything wrong before it is thrown); then text and thoughts as they may be shown, the conversation ids, and
 * one outcome: `finished`, or `failed` for an upstream error or an answer still unusable after correction.
 */
export type AnswerRunEvent =
  | { type: 'started' }
  | { type: 'delta'; content?: string; reasoning?: string }
  /** `poolAccountId`: the pool account answering, when the credential draws from the pool (never a token). */
  | { type: 'ids'; conversationId: string; messageId: string; poolAccountId?: string }
  | { type: 'failed'; message: string; code: string }
  | { type: 'finished'; answer: FinishedAnswer };

/** How a chat completion's choice ends: `function_call` is the deprecated shape's name for `tool_calls`. */
export type ChoiceFinishReason = FinishedAnswer['finishReason'] | 'function_call';

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: { index: 0; message: AssistantMessage; logprobs: null; finish_reason: ChoiceFinishReason }[];
  usage: Usage;
  conversation_id?: string;
  message_id?: string;
}

export interface AssistantMessage {
  role: 'assistant';
  /** Null when the turn only calls tools. */
  content: string | null;
  reasoning_content?: string;
  tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
  /** The one call of an answer to a request that sent the deprecated `functions`. */
  function_call?: { name: string; arguments: string };
}

/** An answer that failed after it started, as the error a non-stream request gets. */
export function answerFailure(failure: Extract<AnswerRunEvent, { type: 'failed' }>): ApiError {
  return toApiError(new UpstreamError({ kind: 'answer_error', step: 'conversation', code: failure.code, said: failure.message }));
}
