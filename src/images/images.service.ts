import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { ApiCredential } from '../auth/api-credential';
import { ApiError } from '../common/errors/api-error';
import { AppConfig } from '../config/app-config';
import { ConversationService } from '../chat/conversation.service';
import { resolveModel } from '../chat/models/model-mapping';
import type { UpstreamMessage } from '../chat/message-converter';
import { FileLinkService, generatedFilePath } from '../files/file-link.service';
import type { ImageGenerationRequestDto } from './dto/image-generation.dto';

export interface ImageResult {
  url?: string;
  b64_json?: string;
  revised_prompt: string;
}

export interface ImagesResponse {
  created: number;
  data: ImageResult[];
}

/** OpenAI's image model names; the web backend draws with its image tool from a chat model that has it. */
const DEFAULT_IMAGE_MODEL = 'dall-e-3';
const IMAGE_MODEL_NAMES = /^(dall-e|gpt-image|chatgpt-image)/;
/** OpenAI's GPT image models answer with the image's bytes, DALL·E models with a link. */
const GPT_IMAGE_MODEL_NAMES = /^(gpt-image|chatgpt-image)/;
const IMAGE_TOOL_SLUG = 'gpt-4o';
const DEFAULT_SIZE = '1024x1024';
const IMAGE_TOOL_FENCE = /```dalle\.text2im\n([\s\S]*?)\n```/;

/**
 * `POST /v1/images/generations` through the web backend: a one-message conversation asking the image tool to
 * draw the prompt at the requested size; the generated file comes back as a durable link or inline bytes.
 */
@Injectable()
export class ImagesService {
  private readonly logger = new Logger(ImagesService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly conversations: ConversationService,
    private readonly fileLinks: FileLinkService,
  ) {}

  async generate(
    request: ImageGenerationRequestDto,
    credential: ApiCredential,
    signal: AbortSignal,
    origin: string,
  ): Promise<ImagesResponse> {
    const requested = request.model || DEFAULT_IMAGE_MODEL;
    const resolved = resolveModel(requested);
    const model = IMAGE_MODEL_NAMES.test(requested) ? { ...resolved, slug: IMAGE_TOOL_SLUG, paidOnly: false } : resolved;
    const instruction = drawInstruction(request.prompt, request.size ?? DEFAULT_SIZE);
    const started = await this.conversations.start(
      credential,
      {
        model,
        messages: () => Promise.resolve([userMessage(instruction)]),
        historyDisabled: this.config.historyDisabled || this.config.forceNoHistory,
      },
      signal,
    );
    let text = '';
    const images: string[] = [];
    let moderated = false;
    for await (const pieces of started.pieces) {
      for (const piece of pieces) {
        if (piece.type === 'content') text += piece.text;
        else if (piece.type === 'image') images.push(piece.fileId);
        else if (piece.type === 'error') throw ApiError.of('image_drawing_failed', { said: piece.message }, { code: piece.code });
        else if (piece.type === 'finish') moderated = piece.reason === 'content_filter';
      }
    }
    if (moderated) {
      throw ApiError.invalidRequest('The prompt was refused by the content filter.', 'content_policy_violation', 'prompt');
    }
    if (images.length === 0) {
      this.logger.warn(`the image tool drew nothing; the model answered ${text.length} characters of text`);
      throw ApiError.of('no_image_generated', { said: text ? `: ${shorten(text)}` : '.' });
    }
    const revisedPrompt = revisedPromptOf(text) ?? request.prompt;
    const path = generatedFilePath(images[0]);
    const result: ImageResult = { revised_prompt: revisedPrompt };
    // OpenAI refuses `response_format` for GPT image models; here a link costs nothing, so asking for one is honoured.
    const format = request.response_format ?? (GPT_IMAGE_MODEL_NAMES.test(requested) ? 'b64_json' : 'url');
    if (format === 'b64_json') {
      const file = await this.fileLinks.bytes(started, path, signal);
      if (!file) throw imageUnavailable();
      result.b64_json = file.bytes.toString('base64');
    } else {
      const url = await this.fileLinks.linkFor(started, path, origin);
      if (!url) throw imageUnavailable();
      result.url = url;
    }
    return { created: Math.floor(Date.now() / 1000), data: [result] };
  }
}

function drawInstruction(prompt: string, size: string): string {
  const shape = size === 'auto' ? '' : ` The image must be ${size} pixels (width x height).`;
  return `Use the image generation tool to draw exactly one image of the prompt below. Do not ask questions and do not answer with text only.${shape}\n\nPrompt: ${prompt}`;
}

function userMessage(text: string): UpstreamMessage {
  return { id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: [text] }, metadata: {} };
}

/** The prompt the image tool was actually called with, as the answer shows it in its `dalle.text2im` block. */
function revisedPromptOf(text: string): string | undefined {
  const block = IMAGE_TOOL_FENCE.exec(text)?.[1];
  if (!block) return undefined;
  try {
    const prompt = (JSON.parse(block) as { prompt?: unknown }).prompt;
    return typeof prompt === 'string' && prompt ? prompt : undefined;
  } catch {
    return undefined;
  }
}

function imageUnavailable(): ApiError {
  return ApiError.of('image_unavailable', {});
}

function shorten(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}
