import { Injectable, Logger } from '@nestjs/common';
import type { Response } from 'express';
import type { ApiCredential } from '../auth/api-credential';
import { type AnswerRunEvent, answerFailure, type PreparedChat } from '../chat/answer-run';
import { ChatService } from '../chat/chat.service';
import type { ChatCompletionRequestDto } from '../chat/dto/chat-completion.dto';
import { ApiError } from '../common/errors/api-error';
import { StoreUnavailableError } from '../common/errors/store-unavailable.error';
import { clientErrorOf } from '../common/errors/upstream-error';
import { nameAnswer } from '../common/http/request-facts';
import { SHUTDOWN_ERROR, SseChannel } from '../common/http/sse-channel';
import { OpenStreams } from '../common/lifecycle/open-streams.registry';
import { AppConfig } from '../config/app-config';
import type { CreateResponseDto } from './dto/create-response.dto';
import type { ListInputItemsQuery } from './dto/list-input-items.dto';
import { type InputItem, type InputItemList, inputItemsOf, inputItemsPage } from './input-items';
import { ResponseBuilder } from './response-builder';
import { type AttachmentParams, chatRequestFor, type Continuation } from './response-input';
import { type DeletedResponse, type ResponseObject, responseId, type ResponseStreamEvent } from './response-shapes';
import { ResponseStore, type StoredResponse } from './response.store';

/** One Responses API request on its way through the chat pipeline. */
interface ResponseRun {
  owner: string;
  store: boolean;
  /** The request's input items, kept with the response. */
  input: InputItem[];
  chatRequest: ChatCompletionRequestDto;
  chat: PreparedChat;
  builder: ResponseBuilder;
  /** Where the answer so far lives upstream, once the upstream has said. */
  continuation?: Continuation;
  /** The stream's response was stored in progress as it started: its outcome replaces that record. */
  recorded?: boolean;
}

/**
 * `/v1/responses`: maps a Responses request onto the chat pipeline (the same conversion, attachments, tool and
 * JSON emulation, retries and usage as chat completions), renders its answer as a `Response` or as typed stream
 * events, and keeps stored responses so `previous_response_id` can continue the upstream conversation.
 */
@Injectable()
export class ResponsesService {
  private readonly logger = new Logger(ResponsesService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly chat: ChatService,
    private readonly store: ResponseStore,
    private readonly openStreams: OpenStreams,
  ) {}

  /** `origin` is where file links in the answer point. */
  async create(
    request: CreateResponseDto,
    credential: ApiCredential,
    owner: string,
    signal: AbortSignal,
    origin: string,
  ): Promise<ResponseObject> {
    const run = await this.prepare(request, owner);
    nameAnswer(signal, run.builder.response.id);
    try {
      for await (const event of this.chat.run(run.chatRequest, run.chat, credential, signal, origin)) {
        await this.step(run, event);
        if (event.type === 'failed') throw answerFailure(event);
        if (event.type === 'finished') break;
      }
    } catch (error) {
      throw inResponsesTerms(error);
    }
    return run.builder.response;
  }

  /** Errors before the answer starts are thrown (rendered as JSON); later ones end the stream with `response.failed`. */
  async stream(
    request: CreateResponseDto,
    credential: ApiCredential,
    owner: string,
    response: Response,
    signal: AbortSignal,
    origin: string,
  ): Promise<void> {
    const run = await this.prepare(request, owner);
    nameAnswer(signal, run.builder.response.id);
    const events = this.chat.run(run.chatRequest, run.chat, credential, signal, origin);
    await events.next().catch((error: unknown) => {
      throw inResponsesTerms(error);
    });
    await this.record(run);
    const farewell = () => frame(this.failNow(run, SHUTDOWN_ERROR.message));
    const out = new SseChannel(response, this.config.keepAliveIntervalMs, { openStreams: this.openStreams, farewell });
    try {
      await send(out, run.builder.start());
      for await (const event of events) {
        const written = await this.step(run, event);
        if (!out.open) break;
        await send(out, written);
        if (event.type === 'finished' || event.type === 'failed') return;
      }
    } catch (error) {
      if (!signal.aborted && out.open) {
        this.logger.warn(`stream ${run.builder.response.id} failed after it started: ${(error as Error).message}`);
        // An upstream refusal (a corrective round's start) says why, as a chat stream's error chunk does.
        const message =
          clientErrorOf(error)?.message ?? 'The upstream connection failed in the middle of the answer; the text so far is incomplete.';
        await send(out, await this.fail(run, message, clientErrorOf(error)?.code));
        return;
      }
    } finally {
      out.close();
    }
    await this.cancel(run);
  }

  /** `stream`: the SDK's `retrieve(id, { stream: true })`, a replay of the events, which is not kept. */
  async retrieve(id: string, owner: string, stream = false): Promise<ResponseObject> {
    if (stream) {
      throw ApiError.invalidRequest(
        "Streaming a stored response is not supported: retrieve it without 'stream'.",
        'unsupported_value',
        'stream',
      );
    }
    const stored = await this.store.find(id, owner);
    if (!stored) throw ApiError.of('response_not_found', { id });
    return stored.response;
  }

  /** `GET /v1/responses/{id}/input_items`: a page of the items the response was created from. */
  async inputItems(id: string, owner: string, query: ListInputItemsQuery): Promise<InputItemList> {
    const stored = await this.store.find(id, owner);
    if (!stored) throw ApiError.of('response_not_found', { id });
    return inputItemsPage(stored.input ?? [], query);
  }

  async delete(id: string, owner: string): Promise<DeletedResponse> {
    if (!(await this.store.delete(id, owner))) throw ApiError.of('response_not_found', { id });
    return { id, object: 'response', deleted: true };
  }

  private async prepare(request: CreateResponseDto, owner: string): Promise<ResponseRun> {
    const previous = request.previous_response_id ? await this.previous(request.previous_response_id, owner) : undefined;
    const callNames = new Map<string, string>();
    for (const item of previous?.response.output ?? []) if (item.type === 'function_call') callNames.set(item.call_id, item.name);
    const attachmentParams: AttachmentParams = new Map();
    const chatRequest = chatRequestFor(request, previous?.continuation, callNames, attachmentParams);
    const chat = this.chat.prepare(chatRequest, {
      preferredAccountId: previous?.continuation?.poolAccountId,
      pinnedBy: 'previous_response_id',
      attachmentParams,
      fileOwner: owner,
      // REASONING_OUTPUT shapes chat completions; here the thoughts always become a `reasoning` item.
      reasoningOutput: 'reasoning_content',
      // The upstream holds the whole chain: the previous response's input already counted the turns before it.
      earlierContextTokens: previous?.response.usage?.total_tokens,
    });
    const store = request.store ?? true;
    return {
      owner,
      store,
      input: store ? inputItemsOf(request.input) : [],
      chatRequest,
      chat,
      builder: new ResponseBuilder(initialResponse(request, chat)),
    };
  }

  private async previous(id: string, owner: string): Promise<StoredResponse> {
    const stored = await this.store.find(id, owner);
    if (!stored) {
      throw ApiError.of('previous_response_not_found', { id });
    }
    if (stored.response.status === 'in_progress') {
      throw ApiError.invalidRequest(
        `Invalid value for 'previous_response_id': response '${id}' is still in progress; continue it once it has ended.`,
        'invalid_value',
        'previous_response_id',
      );
    }
    if (!stored.continuation) {
      throw ApiError.invalidRequest(
        `Invalid value for 'previous_response_id': response '${id}' did not finish, so it cannot be continued.`,
        'invalid_value',
        'previous_response_id',
      );
    }
    return stored;
  }

  /** Applies one event of the answer to the response; returns the stream events it makes. */
  private async step(run: ResponseRun, event: AnswerRunEvent): Promise<ResponseStreamEvent[]> {
    const { builder } = run;
    switch (event.type) {
      case 'delta':
        return [...builder.reasoning(event.reasoning ?? ''), ...builder.text(event.content ?? '')];
      case 'finished': {
        const events = builder.finish(event.answer, await event.answer.countTokens(), Math.floor(Date.now() / 1000));
        const { ids, poolAccountId } = event.answer;
        await this.keep(
          run,
          ids && { conversationId: ids.conversationId, parentMessageId: ids.messageId, ...(poolAccountId ? { poolAccountId } : {}) },
        );
        return events;
      }
      case 'failed':
        return this.fail(run, event.message, event.code);
      case 'ids':
        run.continuation = {
          conversationId: event.conversationId,
          parentMessageId: event.messageId,
          ...(event.poolAccountId ? { poolAccountId: event.poolAccountId } : {}),
        };
        return [];
      default:
        return [];
    }
  }

  /**
   * Stores a stream's response as `response.created` hands out its id, in progress, so that it can be retrieved while
   * it runs (as OpenAI's can). Done before the stream opens, so its outcome (and a farewell's) is always written after it.
   * A store that does not take it costs only that retrieval: the outcome is then saved as a non-stream response's is.
   */
  private async record(run: ResponseRun): Promise<void> {
    if (!run.store) return;
    try {
      await this.store.save({ owner: run.owner, response: run.builder.response, input: run.input });
      run.recorded = true;
    } catch (error) {
      this.logger.warn(`response ${run.builder.response.id} not stored as it started: ${(error as Error).message}`);
    }
  }

  /**
   * The client left mid-stream. `response.created` has handed out the id, so the response is kept as far as it
   * got, and can be continued from the answer the upstream holds. Not when it already has an outcome (finished, or
   * failed by the server's farewell).
   */
  private async cancel(run: ResponseRun): Promise<void> {
    if (run.builder.response.status !== 'in_progress') return;
    run.builder.cancel();
    await this.keep(run, run.continuation);
  }

  /** The answer broke off: the response is failed and kept as it stands. */
  private async fail(run: ResponseRun, message: string, code?: string | null): Promise<ResponseStreamEvent[]> {
    const events = run.builder.fail(message, code);
    await this.keep(run);
    return events;
  }

  /** As `fail`, for a farewell that must be written at once (the server is stopping): the response is kept meanwhile. */
  private failNow(run: ResponseRun, message: string): ResponseStreamEvent[] {
    const events = run.builder.fail(message);
    this.keep(run).catch((error: unknown) =>
      this.logger.warn(`response ${run.builder.response.id} not stored: ${(error as Error).message}`),
    );
    return events;
  }

  /**
   * Stores the response as it stands; over its in-progress record only while that is still stored, so that a response
   * deleted while it ran stays deleted. A store that does not answer (Redis away) costs only its later retrieval and
   * continuation: the answer the upstream gave still reaches the client, stream or not, rather than a 503 that the SDKs
   * retry (running it again upstream) or a stream cut before its last event.
   */
  private async keep(run: ResponseRun, continuation?: StoredResponse['continuation']): Promise<void> {
    if (!run.store) return;
    const stored = { owner: run.owner, response: run.builder.response, continuation, input: run.input };
    try {
      if (!run.recorded) await this.store.save(stored);
      else if (!(await this.store.replace(stored))) this.logger.log(`response ${stored.response.id} was deleted while it ran: not kept`);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      this.logger.warn(`response ${run.builder.response.id} not stored: ${error.message}`);
    }
  }
}

/**
 * An error of the chat pipeline as this API's client should read it: the conversation the pipeline calls `messages`
 * (an upstream 413's `context_length_exceeded`) is the request's `input` here.
 */
function inResponsesTerms(error: unknown): unknown {
  const client = clientErrorOf(error);
  if (client?.body.error.param !== 'messages') return error;
  return new ApiError(client.getStatus(), client.type, client.code, client.message, { ...client.details, param: 'input' });
}

/** The response as `response.created` shows it: the request's settings echoed, no output yet. */
function initialResponse(request: CreateResponseDto, chat: PreparedChat): ResponseObject {
  const format = request.text?.format;
  return {
    id: responseId(),
    object: 'response',
    created_at: chat.meta.created,
    status: 'in_progress',
    completed_at: null,
    background: false,
    error: null,
    incomplete_details: null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    model: chat.meta.model,
    output: [],
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: request.previous_response_id ?? null,
    reasoning: { effort: request.reasoning?.effort ?? null, summary: request.reasoning?.summary ?? null },
    service_tier: 'default',
    store: request.store ?? true,
    temperature: request.temperature ?? 1,
    text: { format: format ? { ...format } : { type: 'text' } },
    tool_choice: request.tool_choice ?? 'auto',
    tools: (request.tools ?? []).map((tool) => ({
      type: 'function',
      name: tool.name,
      description: tool.description ?? null,
      parameters: tool.parameters ?? null,
      strict: tool.strict ?? true,
    })),
    top_p: request.top_p ?? 1,
    truncation: 'disabled',
    usage: null,
    metadata: request.metadata ?? {},
    ...(request.user ? { user: request.user } : {}),
  };
}

/** The Responses API's SSE framing: the event's type as the `event:` name, the event itself as `data:`. */
function send(out: SseChannel, events: ResponseStreamEvent[]): Promise<void> {
  if (!events.length) return Promise.resolve();
  return out.write(frame(events));
}

function frame(events: ResponseStreamEvent[]): string {
  return events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join('');
}
