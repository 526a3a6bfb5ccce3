// About 300 lines: the answer rounds and their two wire formats (JSON and stream) read best side by side.
import { Injectable, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { AppConfig } from '../config/app-config';
import { clientErrorOf } from '../common/errors/upstream-error';
import { OpenStreams } from '../common/lifecycle/open-streams.registry';
import { nameAnswer } from '../common/http/request-facts';
import type { ApiCredential } from '../auth/api-credential';
import { FileLinkService, generatedFilePath } from '../files/file-link.service';
import { AnswerAssembler } from './answer-assembler';
import {
  argumentPieces,
  correctiveMessages,
  EmittedToolCall,
  invalidAnswerError,
  MAX_CORRECTIVE_ROUNDS,
  textAfterRound,
} from './answer-contract';
import {
  type AnswerRunEvent,
  type AnswerTokens,
  answerFailure,
  type AssistantMessage,
  type ChatCompletion,
  type ChoiceFinishReason,
  type FinishedAnswer,
  type PreparedChat,
} from './answer-run';
import { answerContractFor } from './answer-contract.factory';
import { completionId } from './completion-ids';
import { CompletionStream, type Usage } from './completion-stream';
import { ConversationAccounts } from './conversation-accounts';
import { ConversationService, StartedConversation } from './conversation.service';
import type { AttachmentPart, ChatCompletionRequestDto, ChatMessageDto } from './dto/chat-completion.dto';
import { AttachmentService, RequestFiles } from './attachment.service';
import type { FileBytes } from './client-file.fetcher';
import { imageSize } from './image-size';
import type { FinishReason } from './translation/answer-writer';
import { convertMessages } from './message-converter';
import { DEFAULT_REQUESTED_MODEL, resolveModel } from './models/model-mapping';
import { stopSequencesOf } from './stop-sequences';
import { encodingFor, imageTokens, TokenCounter } from './token-counter';
import { usesLegacyFunctions, withLegacyFunctionsAsTools } from './tools/legacy-functions';

/** `/v1/chat/completions`: turns one OpenAI request into one upstream conversation, streamed or whole. */
/** The pool account a request must run on, and the field that pinned it there (`AttemptPolicy.begin`). */
type ChatPin = Pick<PreparedChat, 'preferredAccountId' | 'pinnedBy'>;

@Injectable()
export class ChatService {
  private readonly logger = new Logger(ChatService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly conversations: ConversationService,
    private readonly attachments: AttachmentService,
    private readonly counter: TokenCounter,
    private readonly openStreams: OpenStreams,
    private readonly fileLinks: FileLinkService,
    private readonly conversationAccounts: ConversationAccounts,
  ) {}

  /**
   * `origin` is where file links in the answer point (`FileLinkService.originFor`); `fileOwner`, whose `/v1/files`
   * uploads a `file_id` may name (`ApiKeyOwner`).
   */
  async complete(
    asked: ChatCompletionRequestDto,
    credential: ApiCredential,
    signal: AbortSignal,
    origin: string,
    fileOwner?: string,
  ): Promise<ChatCompletion> {
    const legacy = usesLegacyFunctions(asked);
    const request = withLegacyFunctionsAsTools(asked);
    const chat = this.prepare(request, { ...(await this.pinOfConversation(request, credential)), fileOwner });
    for await (const event of this.run(request, chat, credential, signal, origin)) {
      if (event.type === 'failed') throw answerFailure(event);
      if (event.type !== 'finished') continue;
      const { answer } = event;
      const calls = answer.toolCalls;
      const message: AssistantMessage = { role: 'assistant', content: calls.length ? answer.content.trim() || null : answer.content };
      if (calls.length && legacy) message.function_call = { name: calls[0].name, arguments: calls[0].arguments };
      else if (calls.length) message.tool_calls = calls.map(toolCallOf);
      if (answer.reasoning && chat.reasoningOutput === 'reasoning_content') message.reasoning_content = answer.reasoning;
      const ids = answer.ids && { conversation_id: answer.ids.conversationId, message_id: answer.ids.messageId };
      return {
        id: chat.meta.id,
        object: 'chat.completion',
        created: chat.meta.created,
        model: chat.meta.model,
        choices: [{ index: 0, message, logprobs: null, finish_reason: finishReasonFor(answer, legacy) }],
        usage: (await answer.countTokens()).usage,
        ...(chat.historyDisabled ? {} : ids),
      };
    }
    throw unfinished();
  }

  /** Errors before the answer starts are thrown (rendered as JSON); later ones end the stream in-band. */
  async stream(
    asked: ChatCompletionRequestDto,
    credential: ApiCredential,
    response: Response,
    signal: AbortSignal,
    origin: string,
    fileOwner?: string,
  ): Promise<void> {
    const legacy = usesLegacyFunctions(asked);
    const request = withLegacyFunctionsAsTools(asked);
    const chat = this.prepare(request, { ...(await this.pinOfConversation(request, credential)), fileOwner });
    const events = this.run(request, chat, credential, signal, origin);
    await events.next();
    const out = new CompletionStream(response, chat.meta, this.config.keepAliveIntervalMs, this.openStreams);
    try {
      await out.delta({ role: 'assistant', content: '' });
      for await (const event of events) {
        if (!out.open) return;
        if (event.type === 'ids') {
          if (!chat.historyDisabled) out.setConversationIds(event.conversationId, event.messageId);
        } else if (event.type === 'delta') {
          const delta: Record<string, unknown> = {};
          if (event.reasoning) delta.reasoning_content = event.reasoning;
          if (event.content) delta.content = event.content;
          await out.delta(delta);
        } else if (event.type === 'failed') {
          await out.error(event.message, event.code);
          await out.done();
          return;
        } else if (event.type === 'finished') {
          const { answer } = event;
          const calls = answer.toolCalls;
          if (calls.length ? answer.rest.trim() : answer.rest) await out.delta({ content: answer.rest });
          for (const [index, call] of calls.entries()) await writeToolCall(out, index, call, legacy);
          await out.delta({}, finishReasonFor(answer, legacy));
          if (request.stream_options?.include_usage) await out.usage((await answer.countTokens()).usage);
          await out.done();
          return;
        }
      }
    } catch (error) {
      if (signal.aborted || !out.open) return;
      this.logger.warn(`stream ${chat.meta.id} failed after it started: ${(error as Error).message}`);
      const clientError = clientErrorOf(error);
      await out.error(
        clientError?.message ?? 'The upstream connection failed in the middle of the answer; the text so far is incomplete.',
        clientError?.code || 'upstream_stream_error',
      );
      await out.done();
    } finally {
      out.close();
    }
  }

  /**
   * Runs the answer rounds of a request through its answer contract (emulated tools, JSON output): one upstream
   * conversation, plus a corrective round when the answer breaks the contract. Protocol text is never shown.
   * The seam the client-facing APIs share; each renders these events in its own wire format.
   */
  /** `origin` is where file links in the answer point (`FileLinkService.originFor`). */
  async *run(
    request: ChatCompletionRequestDto,
    chat: PreparedChat,
    credential: ApiCredential,
    signal: AbortSignal,
    origin: string,
  ): AsyncGenerator<AnswerRunEvent> {
    nameAnswer(signal, chat.meta.id);
    const contract = answerContractFor(request, await this.loadMessages(request, chat, signal));
    let messages = contract.messages;
    let started = await this.start(request, credential, chat, messages, signal);
    yield { type: 'started' };
    // The text the client was shown, in every round so far (a corrective round shows nothing until it is judged).
    let shown = '';
    let ids: FinishedAnswer['ids'];
    for (let round = 0; ; round++) {
      const assembler = this.assembler(request, chat, started, origin, contract.plainText ? stopSequencesOf(request.stop) : []);
      const reader = contract.reader(round);
      let finishReason: FinishReason | null = null;
      for await (const events of assembler.events(started.pieces)) {
        for (const event of events) {
          if (event.type === 'error') {
            yield { type: 'failed', message: event.message, code: event.code };
            return;
          }
          if (event.type === 'finish') finishReason = event.reason;
          else if (event.type === 'ids') {
            ids = { conversationId: event.conversationId, messageId: event.messageId };
            const { poolAccountId } = started.account;
            if (poolAccountId && !chat.historyDisabled) await this.conversationAccounts.record(event.conversationId, poolAccountId);
            yield { ...event, ...(poolAccountId ? { poolAccountId } : {}) };
          } else {
            // Protocol text (a tool call block, JSON still to be validated) is held back by the reader.
            const released = event.content ? reader.push(event.content) : '';
            shown += released;
            if (released || event.reasoning)
              yield {
                type: 'delta',
                ...(released ? { content: released } : {}),
                ...(event.reasoning ? { reasoning: event.reasoning } : {}),
              };
          }
        }
      }
      const judged = reader.end();
      const cutShort = finishReason === 'length' || finishReason === 'content_filter';
      if (!judged.ok && !cutShort) {
        if (round < MAX_CORRECTIVE_ROUNDS) {
          this.logger.warn(`${chat.meta.id} asks for a corrected answer: ${judged.problem}`);
          messages = correctiveMessages(messages, assembler.content, judged.correction);
          started = await this.start(request, credential, chat, messages, signal);
          continue;
        }
        yield { type: 'failed', message: invalidAnswerError(judged).message, code: judged.code };
        return;
      }
      // Cut by the token limit or the filter, an unusable answer is no failure: it ends with that reason and the
      // text it has (OpenAI's truncated JSON, or no call), and retrying it would only cut it again.
      const verdict = judged.ok ? judged : { content: judged.cut, toolCalls: [] };
      const calls = verdict.toolCalls;
      const finishReasonOut = calls.length ? 'tool_calls' : (finishReason ?? 'stop');
      this.logAnswer(chat, finishReasonOut);
      const rest = textAfterRound(round, shown, verdict);
      yield {
        type: 'finished',
        answer: {
          rest,
          content: shown + rest,
          toolCalls: calls,
          finishReason: finishReasonOut,
          reasoning: assembler.reasoning,
          countTokens: () => this.countTokens(request, chat, assembler),
          ids,
          ...(started.account.poolAccountId ? { poolAccountId: started.account.poolAccountId } : {}),
        },
      };
      return;
    }
  }

  private logAnswer(chat: PreparedChat, finishReason: string): void {
    this.logger.log(
      `${chat.meta.id} ${chat.model.requested} → ${chat.model.slug} ${chat.mode} finished (${finishReason}) in ${Date.now() - chat.startedAt} ms`,
    );
  }

  /** With a pool key, the pool account a continued conversation lives on (`ConversationAccounts`), when known. */
  private async pinOfConversation(request: ChatCompletionRequestDto, credential: ApiCredential): Promise<ChatPin> {
    if (credential.kind !== 'pool' || !request.conversation_id) return {};
    return { preferredAccountId: await this.conversationAccounts.accountOf(request.conversation_id), pinnedBy: 'conversation_id' };
  }

  /**
   * `preferredAccountId`: the pool account the conversation lives on, for a continuation with a pool key.
   * `attachmentParams`: the request fields errors about an image or file part name, when the request was not sent
   * as chat messages (the Responses API's input). `reasoningOutput`: where the thoughts go, when not `REASONING_OUTPUT`.
   * `earlierContextTokens`: what the continued conversation already holds (`PreparedChat.earlierContextTokens`).
   * `fileOwner`: whose `/v1/files` uploads a `file_id` may name.
   */
  prepare(
    request: ChatCompletionRequestDto,
    {
      preferredAccountId,
      pinnedBy,
      attachmentParams,
      reasoningOutput = this.config.reasoningOutput,
      earlierContextTokens,
      fileOwner,
    }: ChatPin & Partial<Pick<PreparedChat, 'attachmentParams' | 'reasoningOutput' | 'earlierContextTokens' | 'fileOwner'>> = {},
  ): PreparedChat {
    const model = resolveModel(request.model || DEFAULT_REQUESTED_MODEL);
    const historyDisabled = this.config.forceNoHistory || (request.history_disabled ?? this.config.historyDisabled);
    return {
      model,
      meta: { id: completionId(), created: Math.floor(Date.now() / 1000), model: model.echoed },
      encoding: encodingFor(model.echoed),
      historyDisabled,
      mode: request.stream ? 'stream' : 'json',
      reasoningOutput,
      startedAt: Date.now(),
      files: new RequestFiles(),
      ...(preferredAccountId ? { preferredAccountId, pinnedBy } : {}),
      ...(attachmentParams ? { attachmentParams } : {}),
      ...(earlierContextTokens ? { earlierContextTokens } : {}),
      ...(fileOwner ? { fileOwner } : {}),
    };
  }

  /** The client's messages with their files opened once, before any attempt or corrective round. */
  private async loadMessages(request: ChatCompletionRequestDto, chat: PreparedChat, signal: AbortSignal): Promise<ChatMessageDto[]> {
    const messages = this.config.uploadByUrl ? this.attachments.expandLeadingUrls(request.messages) : request.messages;
    chat.files = await this.attachments.open(messages, signal, chat.attachmentParams, chat.fileOwner);
    return messages;
  }

  private async start(
    request: ChatCompletionRequestDto,
    credential: ApiCredential,
    chat: PreparedChat,
    messages: ChatMessageDto[],
    signal: AbortSignal,
  ): Promise<StartedConversation> {
    const files = chat.files;
    return this.conversations.start(
      credential,
      {
        model: chat.model,
        messages: async (identity, baseUrl) => {
          await files.fetched();
          return convertMessages(messages, (part) => this.attachments.upload(files.get(part)!, identity, baseUrl, signal));
        },
        conversationId: request.conversation_id,
        parentMessageId: request.parent_message_id,
        historyDisabled: chat.historyDisabled,
        chatgptAccountId: request['Chatgpt-Account-Id'],
        preferredAccountId: chat.preferredAccountId,
        pinnedBy: chat.pinnedBy,
      },
      signal,
    );
  }

  /** `stop`: the strings that end the answer's text (none when the answer carries protocol text, `AnswerContract.plainText`). */
  private assembler(
    request: ChatCompletionRequestDto,
    chat: PreparedChat,
    started: StartedConversation,
    origin: string,
    stop: string[],
  ): AnswerAssembler {
    return new AnswerAssembler(
      {
        reasoningOutput: chat.reasoningOutput,
        maxTokens: request.max_completion_tokens ?? request.max_tokens,
        stop,
        encoding: chat.encoding,
        // Durable links: the upstream's signed URLs expire within minutes.
        resolveImage: (fileId) => this.fileLinks.linkFor(started, generatedFilePath(fileId), origin),
        resolveSandboxFile: (path, messageId, conversationId) =>
          this.fileLinks.linkFor(
            started,
            `/backend-api/conversation/${encodeURIComponent(conversationId)}/interpreter/download?message_id=${encodeURIComponent(messageId)}&sandbox_path=${encodeURIComponent(path)}`,
            origin,
          ),
      },
      this.counter,
    );
  }

  private async countTokens(request: ChatCompletionRequestDto, chat: PreparedChat, assembler: AnswerAssembler): Promise<AnswerTokens> {
    const prompt =
      (chat.earlierContextTokens ?? 0) +
      (await this.counter.countPrompt(request.messages, chat.encoding, (part) => attachmentTokens(part, chat.files.get(part))));
    const reasoningTokens = await this.counter.countAsync(assembler.reasoning, chat.encoding);
    const contentTokens = await this.counter.countAsync(assembler.content, chat.encoding);
    // With REASONING_OUTPUT=think the thoughts are in the content already, inside their <think> block.
    const completion = chat.reasoningOutput === 'think' ? contentTokens : contentTokens + reasoningTokens;
    const usage: Usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
    if (reasoningTokens > 0) usage.completion_tokens_details = { reasoning_tokens: reasoningTokens };
    return { usage, reasoningTokens };
  }
}

function unfinished(): Error {
  return new Error('the answer rounds ended without an outcome');
}

function toolCallOf(call: EmittedToolCall): NonNullable<AssistantMessage['tool_calls']>[number] {
  return { id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } };
}

/**
 * OpenAI's stream shape for a call: id, type and name first, then the arguments in pieces; in the deprecated
 * shape of a request that sent `functions`, a `function_call` with the name first, then its arguments in pieces.
 */
async function writeToolCall(out: CompletionStream, index: number, call: EmittedToolCall, legacy: boolean): Promise<void> {
  if (legacy) {
    await out.delta({ function_call: { name: call.name, arguments: '' } });
    for (const piece of argumentPieces(call.arguments)) await out.delta({ function_call: { arguments: piece } });
    return;
  }
  await out.delta({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] });
  for (const piece of argumentPieces(call.arguments)) await out.delta({ tool_calls: [{ index, function: { arguments: piece } }] });
}

/** A call ends the choice with `tool_calls`, or with `function_call` in the deprecated shape. */
function finishReasonFor(answer: FinishedAnswer, legacy: boolean): ChoiceFinishReason {
  return legacy && answer.finishReason === 'tool_calls' ? 'function_call' : answer.finishReason;
}

/** Images cost by their real size and detail; other files a token per kilobyte (openai-api.md §8). */
function attachmentTokens(part: AttachmentPart, file: FileBytes | undefined): number {
  if (!file) return 0;
  const size = part.type === 'image_url' ? imageSize(file.bytes) : null;
  if (!size || part.type !== 'image_url') return Math.floor(file.bytes.length / 1000);
  return imageTokens(size.width, size.height, part.image_url.detail);
}
