import { argumentPieces, type EmittedToolCall } from '../chat/answer-contract';
import type { AnswerTokens, FinishedAnswer } from '../chat/answer-run';
import {
  functionCallItemId,
  type FunctionCallItem,
  type MessageItem,
  messageItemId,
  type OutputText,
  reasoningItemId,
  type ReasoningItem,
  type ResponseObject,
  type ResponseStreamEvent,
} from './response-shapes';

/** The codes of OpenAI's response `error` that a failure here can mean (its list is otherwise about images and files). */
const RESPONSE_ERROR_CODES = new Set(['server_error', 'rate_limit_exceeded']);

/** The answer's finish reasons that leave a response incomplete, and why (as OpenAI names it). */
const INCOMPLETE_REASONS: Partial<Record<FinishedAnswer['finishReason'], NonNullable<ResponseObject['incomplete_details']>['reason']>> = {
  length: 'max_output_tokens',
  content_filter: 'content_filter',
};

type Open =
  | { kind: 'message'; index: number; item: MessageItem; text: string }
  | { kind: 'reasoning'; index: number; item: ReasoningItem; text: string };

/**
 * Builds one Responses API `Response` from the answer as it happens, and the stream events that describe each
 * step (OpenAI's order: item added, part added, deltas, text done, part done, item done). A non-stream request
 * runs the same steps and ignores the events, so both shapes always agree.
 */
export class ResponseBuilder {
  private sequence = 0;
  private open?: Open;

  constructor(readonly response: ResponseObject) {}

  /** `response.created` and `response.in_progress`, both with the empty, in-progress response. */
  start(): ResponseStreamEvent[] {
    return [this.lifecycle('response.created'), this.lifecycle('response.in_progress')];
  }

  /** Thoughts of the upstream model, as a reasoning item's summary. */
  reasoning(text: string): ResponseStreamEvent[] {
    if (!text) return [];
    const events: ResponseStreamEvent[] = [];
    if (this.open?.kind !== 'reasoning') {
      events.push(...this.closeOpen('completed'));
      const item: ReasoningItem = { type: 'reasoning', id: reasoningItemId(), summary: [] };
      const index = this.add(item);
      this.open = { kind: 'reasoning', index, item, text: '' };
      events.push(this.event('response.output_item.added', { output_index: index, item: clone(item) }));
      events.push(
        this.event('response.reasoning_summary_part.added', {
          item_id: item.id,
          output_index: index,
          summary_index: 0,
          part: { type: 'summary_text', text: '' },
        }),
      );
      item.summary.push({ type: 'summary_text', text: '' });
    }
    const open = this.open;
    open.text += text;
    open.item.summary[0].text = open.text;
    events.push(
      this.event('response.reasoning_summary_text.delta', {
        item_id: open.item.id,
        output_index: open.index,
        summary_index: 0,
        delta: text,
      }),
    );
    return events;
  }

  /** Answer text, in the assistant message item (opened on the first text). */
  text(text: string): ResponseStreamEvent[] {
    if (!text) return [];
    const events = this.openMessage();
    const open = this.open as Extract<Open, { kind: 'message' }>;
    open.text += text;
    open.item.content[0].text = open.text;
    events.push(
      this.event('response.output_text.delta', {
        item_id: open.item.id,
        output_index: open.index,
        content_index: 0,
        delta: text,
        logprobs: [],
      }),
    );
    return events;
  }

  /** The outcome: the rest of the text, the function calls, usage and the final status. */
  finish(answer: FinishedAnswer, tokens: AnswerTokens, completedAt: number): ResponseStreamEvent[] {
    const calls = answer.toolCalls;
    const events = this.text(calls.length && !answer.rest.trim() ? '' : answer.rest);
    const incompleteReason = INCOMPLETE_REASONS[answer.finishReason];
    const incomplete = incompleteReason !== undefined;
    // An answer without text or calls is still an (empty) message, as OpenAI returns it.
    if (!calls.length && !this.response.output.some((item) => item.type === 'message')) events.push(...this.openMessage());
    events.push(...this.closeOpen(incomplete ? 'incomplete' : 'completed'));
    for (const call of calls) events.push(...this.functionCall(call));
    const { usage } = tokens;
    Object.assign(this.response, {
      status: incomplete ? 'incomplete' : 'completed',
      incomplete_details: incompleteReason ? { reason: incompleteReason } : null,
      completed_at: incomplete ? null : completedAt,
      usage: {
        input_tokens: usage.prompt_tokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: usage.completion_tokens,
        output_tokens_details: { reasoning_tokens: tokens.reasoningTokens },
        total_tokens: usage.total_tokens,
      },
    });
    events.push(this.lifecycle(incomplete ? 'response.incomplete' : 'response.completed'));
    return events;
  }

  /**
   * The answer broke off: what was written so far stays, marked incomplete, and the response is failed. `code`: the
   * failure's own, kept when OpenAI's response errors have it (a rate limit), else `server_error`.
   */
  fail(message: string, code?: string | null): ResponseStreamEvent[] {
    const events = this.closeOpen('incomplete');
    const kept = code && RESPONSE_ERROR_CODES.has(code) ? code : 'server_error';
    Object.assign(this.response, { status: 'failed', error: { code: kept, message } });
    events.push(this.lifecycle('response.failed'));
    return events;
  }

  /** The client left mid-stream: what was written so far stays, marked incomplete, and the response is cancelled. */
  cancel(): void {
    this.closeOpen('incomplete');
    this.response.status = 'cancelled';
  }

  private openMessage(): ResponseStreamEvent[] {
    if (this.open?.kind === 'message') return [];
    const events = this.closeOpen('completed');
    const item: MessageItem = { type: 'message', id: messageItemId(), status: 'in_progress', role: 'assistant', content: [] };
    const index = this.add(item);
    this.open = { kind: 'message', index, item, text: '' };
    events.push(this.event('response.output_item.added', { output_index: index, item: clone(item) }));
    const part: OutputText = { type: 'output_text', text: '', annotations: [], logprobs: [] };
    events.push(this.event('response.content_part.added', { item_id: item.id, output_index: index, content_index: 0, part: clone(part) }));
    item.content.push(part);
    return events;
  }

  private functionCall(call: EmittedToolCall): ResponseStreamEvent[] {
    const item: FunctionCallItem = {
      type: 'function_call',
      id: functionCallItemId(),
      call_id: call.id,
      name: call.name,
      arguments: '',
      status: 'in_progress',
    };
    const index = this.add(item);
    const events = [this.event('response.output_item.added', { output_index: index, item: clone(item) })];
    for (const delta of argumentPieces(call.arguments)) {
      events.push(this.event('response.function_call_arguments.delta', { item_id: item.id, output_index: index, delta }));
    }
    item.arguments = call.arguments;
    item.status = 'completed';
    events.push(
      this.event('response.function_call_arguments.done', {
        item_id: item.id,
        output_index: index,
        name: call.name,
        arguments: call.arguments,
      }),
    );
    events.push(this.event('response.output_item.done', { output_index: index, item: clone(item) }));
    return events;
  }

  private closeOpen(status: 'completed' | 'incomplete'): ResponseStreamEvent[] {
    const open = this.open;
    if (!open) return [];
    this.open = undefined;
    const { index, item, text } = open;
    if (open.kind === 'reasoning') {
      return [
        this.event('response.reasoning_summary_text.done', { item_id: item.id, output_index: index, summary_index: 0, text }),
        this.event('response.reasoning_summary_part.done', {
          item_id: item.id,
          output_index: index,
          summary_index: 0,
          part: { type: 'summary_text', text },
        }),
        this.event('response.output_item.done', { output_index: index, item: clone(item) }),
      ];
    }
    open.item.status = status;
    const part = open.item.content[0];
    return [
      this.event('response.output_text.done', { item_id: item.id, output_index: index, content_index: 0, text, logprobs: [] }),
      this.event('response.content_part.done', { item_id: item.id, output_index: index, content_index: 0, part: clone(part) }),
      this.event('response.output_item.done', { output_index: index, item: clone(open.item) }),
    ];
  }

  private add(item: ResponseObject['output'][number]): number {
    this.response.output.push(item);
    return this.response.output.length - 1;
  }

  private lifecycle(type: string): ResponseStreamEvent {
    return this.event(type, { response: clone(this.response) });
  }

  private event(type: string, fields: Record<string, unknown>): ResponseStreamEvent {
    return { type, sequence_number: this.sequence++, ...fields };
  }
}

/** Events are written later than they are made: each carries its own copy of the state it describes. */
function clone<T>(value: T): T {
  return structuredClone(value);
}
