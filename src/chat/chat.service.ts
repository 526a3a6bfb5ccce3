import { Injectable, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { AppConfig } from '../config/app-config';
import { ApiError } from '../common/errors/api-error';
import type { ApiCredential } from '../auth/api-credential';
import { FileLinkService, generatedFilePath } from '../files/file-link.service';
import { AnswerAssembler, AnswerEvent } from './answer-assembler';
import { correctiveMessages, EmittedToolCall, invalidAnswerError, MAX_CORRECTIVE_ROUNDS } from './answer-contract';
import { answerContractFor } from './answer-contract.factory';
import { completionId } from './completion-ids';
import { CompletionMeta, CompletionStream, Usage } from './completion-stream';
import { ConversationService, StartedConversation } from './conversation.service';
import type { ChatCompletionRequestDto, ChatMessageDto, ContentPart } from './dto/chat-completion.dto';
import { AttachmentService, FileBytes } from './attachment.service';
import { imageSize } from './image-size';
import type { FinishReason } from './translation/answer-writer';
import { convertMessages } from './message-converter';
import { DEFAULT_REQUESTED_MODEL, resolveModel, ResolvedModel } from './models/model-mapping';
import { encodingFor, EncodingName, imageTokens, TokenCounter } from './token-counter';

interface PreparedChat {
  model: ResolvedModel;
  meta: CompletionMeta;
  encoding: EncodingName;
  historyDisabled: boolean;
  startedAt: number;
  /** Images and files of the request, loaded once before any attempt. */
  files: Map<ContentPart, FileBytes>;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: { index: 0; message: AssistantMessage; logprobs: null; finish_reason: FinishReason | 'tool_calls' }[];
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
}

/** `/v1/chat/completions`: turns one OpenAI request into one upstream conversation, streamed or whole. */
@Injectable()
export class ChatService {
  private readonly logger = new Logger(ChatService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly conversations: ConversationService,
    private readonly attachments: AttachmentService,
    private readonly counter: TokenCounter,
    private readonly fileLinks: FileLinkService,
  ) {}

  /** `origin` is where file links in the answer point (`FileLinkService.originFor`). */
  async complete(request: ChatCompletionRequestDto, credential: ApiCredential, signal: AbortSignal, origin: string): Promise<ChatCompletion> {
    const chat = this.prepare(request);
    const contract = answerContractFor(request, await this.loadMessages(request, chat, signal));
    let messages = contract.messages;
    for (let round = 0; ; round++) {
      const started = await this.start(request, credential, chat, messages, signal);
      const assembler = this.assembler(request, chat, started, origin);
      let finishReason: FinishReason = 'stop';
      let ids: { conversation_id: string; message_id: string } | undefined;
      for await (const event of assembler.events(started.pieces)) {
        if (event.type === 'error') throw new ApiError(502, 'upstream_error', event.code, event.message, { upstream: { step: 'conversation' } });
        if (event.type === 'finish') finishReason = event.reason;
        if (event.type === 'ids') ids = { conversation_id: event.conversationId, message_id: event.messageId };
      }
      const reader = contract.reader(round);
      const text = reader.push(assembler.content);
      const verdict = reader.end();
      if (!verdict.ok) {
        if (round < MAX_CORRECTIVE_ROUNDS && finishReason !== 'length' && finishReason !== 'content_filter') {
          this.logger.warn(`${chat.meta.id} asks for a corrected answer: ${verdict.problem}`);
          messages = correctiveMessages(messages, assembler.content, verdict.correction);
          continue;
        }
        throw invalidAnswerError(verdict, round > 0);
      }
      const calls = verdict.toolCalls;
      this.logAnswer(chat, 'json', calls.length ? 'tool_calls' : finishReason);
      const content = text + verdict.content;
      const message: AssistantMessage = { role: 'assistant', content: calls.length ? content.trim() || null : content };
      if (calls.length) message.tool_calls = calls.map(toolCallOf);
      if (assembler.reasoning && this.config.reasoningOutput === 'reasoning_content') message.reasoning_content = assembler.reasoning;
      return {
        id: chat.meta.id,
        object: 'chat.completion',
        created: chat.meta.created,
        model: chat.meta.model,
        choices: [{ index: 0, message, logprobs: null, finish_reason: calls.length ? 'tool_calls' : finishReason }],
        usage: this.usage(request, chat, assembler),
        ...(chat.historyDisabled ? {} : ids),
      };
    }
  }

  /** Errors before the answer starts are thrown (rendered as JSON); later ones end the stream in-band. */
  async stream(request: ChatCompletionRequestDto, credential: ApiCredential, response: Response, signal: AbortSignal, origin: string): Promise<void> {
    const chat = this.prepare(request);
    const contract = answerContractFor(request, await this.loadMessages(request, chat, signal));
    let messages = contract.messages;
    let started = await this.start(request, credential, chat, messages, signal);
    const out = new CompletionStream(response, chat.meta, this.config.keepAliveIntervalMs);
    let contentShown = false;
    try {
      await out.delta({ role: 'assistant', content: '' });
      for (let round = 0; ; round++) {
        const assembler = this.assembler(request, chat, started, origin);
        const reader = contract.reader(round);
        let finishReason: FinishReason | null = null;
        for await (const event of assembler.events(started.pieces)) {
          if (!out.open) return;
          if (event.type === 'error') {
            await out.error(event.message, event.code);
            await out.done();
            return;
          }
          if (event.type === 'finish') finishReason = event.reason;
          else if (event.type !== 'delta' || !event.content) await this.writeEvent(out, event, chat);
          else {
            // Protocol text (a tool call block, JSON still to be validated) is held back by the reader.
            const shown = reader.push(event.content);
            contentShown ||= shown.length > 0;
            if (shown || event.reasoning) await this.writeEvent(out, { ...event, content: shown }, chat);
          }
        }
        const verdict = reader.end();
        if (!verdict.ok) {
          if (round < MAX_CORRECTIVE_ROUNDS && finishReason !== 'length' && finishReason !== 'content_filter') {
            this.logger.warn(`${chat.meta.id} asks for a corrected answer: ${verdict.problem}`);
            messages = correctiveMessages(messages, assembler.content, verdict.correction);
            started = await this.start(request, credential, chat, messages, signal);
            continue;
          }
          const error = invalidAnswerError(verdict, round > 0);
          await out.error(error.message, verdict.code);
          await out.done();
          return;
        }
        const calls = verdict.toolCalls;
        // Text of a corrective round would repeat what the client already has.
        const rest = round > 0 && contentShown ? '' : verdict.content;
        if (calls.length ? rest.trim() : rest) await out.delta({ content: rest });
        for (const [index, call] of calls.entries()) await writeToolCall(out, index, call);
        await out.delta({}, calls.length ? 'tool_calls' : (finishReason ?? 'stop'));
        this.logAnswer(chat, 'stream', calls.length ? 'tool_calls' : (finishReason ?? 'stop'));
        if (request.stream_options?.include_usage) await out.usage(this.usage(request, chat, assembler));
        await out.done();
        return;
      }
    } catch (error) {
      if (signal.aborted || !out.open) return;
      this.logger.warn(`stream ${chat.meta.id} failed after it started: ${(error as Error).message}`);
      const code = error instanceof ApiError && error.code ? error.code : 'upstream_stream_error';
      await out.error(error instanceof ApiError ? error.message : 'The upstream connection failed in the middle of the answer; the text so far is incomplete.', code);
      await out.done();
    } finally {
      out.close();
    }
  }

  private async writeEvent(out: CompletionStream, event: Exclude<AnswerEvent, { type: 'finish' | 'error' }>, chat: PreparedChat): Promise<void> {
    if (event.type === 'ids') {
      if (!chat.historyDisabled) out.setConversationIds(event.conversationId, event.messageId);
      return;
    }
    const delta: Record<string, unknown> = {};
    if (event.reasoning) delta.reasoning_content = event.reasoning;
    if (event.content) delta.content = event.content;
    await out.delta(delta);
  }

  private logAnswer(chat: PreparedChat, mode: 'json' | 'stream', finishReason: string): void {
    this.logger.log(`${chat.meta.id} ${chat.model.requested} → ${chat.model.slug} ${mode} finished (${finishReason}) in ${Date.now() - chat.startedAt} ms`);
  }

  private prepare(request: ChatCompletionRequestDto): PreparedChat {
    const model = resolveModel(request.model || DEFAULT_REQUESTED_MODEL);
    const historyDisabled = this.config.forceNoHistory || (request.history_disabled ?? this.config.historyDisabled);
    return {
      model,
      meta: { id: completionId(), created: Math.floor(Date.now() / 1000), model: model.echoed },
      encoding: encodingFor(model.echoed),
      historyDisabled,
      startedAt: Date.now(),
      files: new Map(),
    };
  }

  /** The client's messages with their files loaded once, before any attempt or corrective round. */
  private async loadMessages(request: ChatCompletionRequestDto, chat: PreparedChat, signal: AbortSignal): Promise<ChatMessageDto[]> {
    const messages = this.config.uploadByUrl ? this.attachments.expandLeadingUrls(request.messages) : request.messages;
    chat.files = await this.attachments.load(messages, signal);
    return messages;
  }

  private async start(request: ChatCompletionRequestDto, credential: ApiCredential, chat: PreparedChat, messages: ChatMessageDto[], signal: AbortSignal): Promise<StartedConversation> {
    const files = chat.files;
    return this.conversations.start(
      credential,
      {
        model: chat.model,
        messages: (identity, baseUrl) => convertMessages(messages, (part) => this.attachments.upload(files.get(part)!, identity, baseUrl, signal)),
        conversationId: request.conversation_id,
        parentMessageId: request.parent_message_id,
        historyDisabled: chat.historyDisabled,
        chatgptAccountId: request['Chatgpt-Account-Id'],
      },
      signal,
    );
  }

  private assembler(request: ChatCompletionRequestDto, chat: PreparedChat, started: StartedConversation, origin: string): AnswerAssembler {
    return new AnswerAssembler(
      {
        reasoningOutput: this.config.reasoningOutput,
        maxTokens: request.max_completion_tokens ?? request.max_tokens,
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

  private usage(request: ChatCompletionRequestDto, chat: PreparedChat, assembler: AnswerAssembler): Usage {
    const prompt = this.counter.countPrompt(request.messages, chat.encoding, (part) => attachmentTokens(part, chat.files.get(part)));
    const completion = this.counter.count(assembler.content, chat.encoding) + this.counter.count(assembler.reasoning, chat.encoding);
    return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  }
}

function toolCallOf(call: EmittedToolCall): NonNullable<AssistantMessage['tool_calls']>[number] {
  return { id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } };
}

const ARGUMENT_CHUNK_CHARS = 48;

/** OpenAI's stream shape for a call: id, type and name first, then the arguments in pieces. */
async function writeToolCall(out: CompletionStream, index: number, call: EmittedToolCall): Promise<void> {
  await out.delta({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] });
  for (let at = 0; at < call.arguments.length; at += ARGUMENT_CHUNK_CHARS) {
    await out.delta({ tool_calls: [{ index, function: { arguments: call.arguments.slice(at, at + ARGUMENT_CHUNK_CHARS) } }] });
  }
}

/** Images cost by their real size and detail; other files a token per kilobyte (openai-api.md §8). */
function attachmentTokens(part: ContentPart, file: FileBytes | undefined): number {
  if (!file) return 0;
  const size = part.type === 'image_url' ? imageSize(file.bytes) : null;
  if (!size) return Math.floor(file.bytes.length / 1000);
  const detail = (part as { image_url?: { detail?: 'low' | 'high' | 'auto' } }).image_url?.detail;
  return imageTokens(size.width, size.height, detail);
}
