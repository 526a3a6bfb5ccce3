import { Injectable, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { randomUUID } from 'node:crypto';
import type { ApiCredential } from '../auth/api-credential';
import type { UpstreamIdentity } from '../upstream/upstream.client';
import { ApiError, type ApiErrorBody } from '../common/errors/api-error';
import { clientErrorOf } from '../common/errors/upstream-error';
import { SHUTDOWN_ERROR, SseChannel } from '../common/http/sse-channel';
import { OpenStreams } from '../common/lifecycle/open-streams.registry';
import { AppConfig } from '../config/app-config';
import { AttachmentService } from '../chat/attachment.service';
import type { FileBytes } from '../chat/client-file.fetcher';
import { ConversationService, type StartedConversation } from '../chat/conversation.service';
import type { AttachmentPart } from '../chat/dto/chat-completion.dto';
import { imageSize, imageTypeOf } from '../chat/image-size';
import { resolveModel } from '../chat/models/model-mapping';
import { convertMessages, type UpstreamMessage } from '../chat/message-converter';
import { imageTokens, TokenCounter } from '../chat/token-counter';
import { FileLinkService, generatedFilePath } from '../files/file-link.service';
import { encodeImage, type ImageOutput, type ImageOutputFormat } from '../files/image-format';
import type { ImageEditRequestDto } from './dto/image-edit.dto';
import type { ImageGenerationRequestDto } from './dto/image-generation.dto';
import {
  assertEditModel,
  assertReferencesUsable,
  checkedReferencedImage,
  editImagesOf,
  type EditSources,
  type ImageEditFiles,
  loadedSources,
} from './image-edit.files';
import { ANY_KNOWN_MODEL_SIZE, imageSizeRuleFor } from './image-sizes';

export interface ImageResult {
  url?: string;
  b64_json?: string;
  revised_prompt: string;
}

/** How OpenAI describes an image a GPT image model drew, in an answer and in the stream's last event. */
export interface ImageDescription {
  size: string;
  quality: 'low' | 'medium' | 'high' | 'auto';
  background: 'transparent' | 'opaque' | 'auto';
  output_format: ImageOutputFormat;
  usage: {
    input_tokens: number;
    input_tokens_details: { image_tokens: number; text_tokens: number };
    output_tokens: number;
    total_tokens: number;
  };
}

/** `data`, and the image's description when its bytes were read here (`b64_json`) or its format was asked for. */
export interface ImagesResponse extends Partial<ImageDescription> {
  created: number;
  data: ImageResult[];
}

/**
 * OpenAI's last event of a streamed generation or edit (`ImageGenCompletedEvent` and `ImageEditCompletedEvent` of
 * the openai SDK).
 */
export interface ImageCompletedEvent extends ImageDescription {
  type: 'image_generation.completed' | 'image_edit.completed';
  b64_json: string;
  created_at: number;
}

/** The images a drawing starts from (an edit), or none (a generation). */
type SourceImages = EditSources | undefined;

/** The upstream has started answering a drawing request; the image is still to come. */
interface Drawing {
  requested: string;
  started: StartedConversation;
}

/** The image the upstream drew, where to download it, and the prompt it was drawn from. */
interface DrawnImage {
  started: StartedConversation;
  path: string;
  revisedPrompt: string;
}

/** OpenAI's image model names; the web backend draws with its image tool from a chat model that has it. */
const DEFAULT_IMAGE_MODEL = 'dall-e-3';
/** As at OpenAI, a request that only a GPT image model can serve (`stream`, an edit) gets one when it names none. */
const DEFAULT_GPT_IMAGE_MODEL = 'gpt-image-1';
const IMAGE_MODEL_NAMES = /^(dall-e|gpt-image|chatgpt-image)/;
/** OpenAI's GPT image models answer with the image's bytes, DALL·E models with a link. */
const GPT_IMAGE_MODEL_NAMES = /^(gpt-image|chatgpt-image)/;
const IMAGE_TOOL_SLUG = 'gpt-4o';
const DEFAULT_SIZE = '1024x1024';
const IMAGE_TOOL_FENCE = /```dalle\.text2im\n([\s\S]*?)\n```/;

/**
 * `POST /v1/images/generations` and `/v1/images/edits` through the web backend: a one-message conversation asking
 * the image tool to draw the prompt at the requested size, for an edit with the client's images attached to it as
 * a chat attaches them; the generated file comes back as a durable link or inline bytes.
 */
@Injectable()
export class ImagesService {
  private readonly logger = new Logger(ImagesService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly conversations: ConversationService,
    private readonly fileLinks: FileLinkService,
    private readonly counter: TokenCounter,
    private readonly openStreams: OpenStreams,
    private readonly attachments: AttachmentService,
  ) {}

  /**
   * The images of an edit, checked against its model before any upstream work: a multipart edit's files, or a JSON
   * edit's `images` references (`data:` URLs decoded and checked now; `file_id`s read from the files `owner` uploaded
   * to `/v1/files` and checked now, as a chat reads them; http(s) URLs checked by the SSRF guard now and fetched by
   * the first attempt, as a chat's image URLs).
   */
  async editImages(
    request: ImageEditRequestDto,
    files: ImageEditFiles | undefined,
    signal: AbortSignal,
    owner?: string,
  ): Promise<EditSources> {
    const model = modelOf(request, true);
    if (request.images === undefined) {
      // A JSON body (the body reader gives a multipart one its files, if none) names its images in `images`.
      if (files === undefined) {
        assertEditModel(model);
        throw ApiError.of('missing_required_parameter', { param: 'images' }, { param: 'images' });
      }
      return loadedSources(await editImagesOf(files, model));
    }
    const references = request.images;
    assertReferencesUsable(model, request.mask, files);
    const parts = references.map((reference): AttachmentPart =>
      reference.file_id != null
        ? { type: 'file', file: { file_id: reference.file_id } }
        : { type: 'image_url', image_url: { url: reference.image_url! } },
    );
    const params = new Map(parts.map((part, index) => [part, `images[${index}].${part.type === 'file' ? 'file_id' : 'image_url'}`]));
    const opened = await this.attachments.open([{ role: 'user', content: parts }], signal, params, owner);
    const check = (part: AttachmentPart) => checkedReferencedImage(opened.get(part)!, params.get(part)!, model);
    // Inline images are here already: a bad one is a 400 before any upstream work.
    const checked = new Map<AttachmentPart, FileBytes>();
    for (const part of parts) if (opened.get(part)) checked.set(part, await check(part));
    let loading: Promise<FileBytes[]> | undefined;
    const load = () =>
      (loading ??= (async () => {
        await opened.fetched();
        const images: FileBytes[] = [];
        for (const part of parts) images.push(checked.get(part) ?? (await check(part)));
        return images;
      })());
    return { count: parts.length, load };
  }

  /** A generation, or with `images` an edit of them. */
  async generate(
    request: ImageGenerationRequestDto,
    credential: ApiCredential,
    signal: AbortSignal,
    origin: string,
    images?: SourceImages,
  ): Promise<ImagesResponse> {
    const drawing = await this.startDrawing(request, credential, signal, images);
    const { started, path, revisedPrompt } = await this.drawn(drawing, request.prompt);
    const created = Math.floor(Date.now() / 1000);
    const output = outputOf(request);
    // OpenAI refuses `response_format` for GPT image models; here a link costs nothing, so asking for one is honoured.
    const format = request.response_format ?? (GPT_IMAGE_MODEL_NAMES.test(drawing.requested) ? 'b64_json' : 'url');
    if (format === 'b64_json') {
      const bytes = await this.imageBytes(started, path, output, signal);
      return {
        created,
        data: [{ b64_json: bytes.toString('base64'), revised_prompt: revisedPrompt }],
        ...this.described(bytes, request, await images?.load()),
      };
    }
    // The link converts when it is opened: the upstream's file stays the one the link reads.
    const url = await this.fileLinks.linkFor(started, path, origin, output);
    if (!url) throw imageUnavailable();
    return { created, data: [{ url, revised_prompt: revisedPrompt }], ...(output ? { output_format: output.format } : {}) };
  }

  /**
   * `stream: true`: OpenAI's image events (`image_generation.completed`, or `image_edit.completed` for an edit, with
   * the image's bytes). Errors before the upstream starts answering are thrown (rendered as JSON); from then on the
   * stream is open, kept alive while the image is drawn, and a failure ends it with an `error` event.
   */
  async stream(
    request: ImageGenerationRequestDto,
    credential: ApiCredential,
    response: Response,
    signal: AbortSignal,
    images?: SourceImages,
  ): Promise<void> {
    const drawing = await this.startDrawing(request, credential, signal, images);
    const farewell = () => errorEvent({ error: SHUTDOWN_ERROR });
    const out = new SseChannel(response, this.config.keepAliveIntervalMs, { openStreams: this.openStreams, farewell });
    try {
      const { started, path } = await this.drawn(drawing, request.prompt);
      const bytes = await this.imageBytes(started, path, outputOf(request), signal);
      const completed: ImageCompletedEvent = {
        type: images ? 'image_edit.completed' : 'image_generation.completed',
        b64_json: bytes.toString('base64'),
        created_at: Math.floor(Date.now() / 1000),
        ...this.described(bytes, request, await images?.load()),
      };
      await out.write(sseEvent(completed));
    } catch (error) {
      if (signal.aborted || !out.open) return;
      this.logger.warn(`image stream failed after it started: ${(error as Error).message}`);
      const clientError = clientErrorOf(error);
      await out.write(
        errorEvent(
          clientError?.body ?? {
            error: {
              message: 'The upstream connection failed while drawing the image.',
              type: 'upstream_error',
              param: null,
              code: 'upstream_stream_error',
            },
          },
        ),
      );
    } finally {
      out.close();
    }
  }

  /** Checks the request against its model, then asks the upstream's image tool to draw it, from `images` if any. */
  private async startDrawing(
    request: ImageGenerationRequestDto,
    credential: ApiCredential,
    signal: AbortSignal,
    images: SourceImages,
  ): Promise<Drawing> {
    const requested = modelOf(request, images !== undefined);
    if (request.stream) {
      if (!GPT_IMAGE_MODEL_NAMES.test(requested)) throw ApiError.of('image_stream_unsupported', { model: requested });
      if (request.response_format === 'url') {
        const param = 'response_format';
        const problem = "a stream carries the image as b64_json; leave 'response_format' out or ask for b64_json";
        throw ApiError.of('invalid_value', { param, problem }, { param });
      }
    }
    // Without a model, any size of the models a client may have had in mind: the upstream's image tool draws it anyway.
    const sizes = request.model ? imageSizeRuleFor(requested) : ANY_KNOWN_MODEL_SIZE;
    if (request.size && !sizes.accepts(request.size)) {
      throw ApiError.of('image_size_unsupported', { size: request.size, supported: sizes.supported });
    }
    const resolved = resolveModel(requested);
    const model = IMAGE_MODEL_NAMES.test(requested) ? { ...resolved, slug: IMAGE_TOOL_SLUG, paidOnly: false } : resolved;
    const instruction = drawInstruction(request.prompt, request.size ?? DEFAULT_SIZE, images?.count ?? 0);
    const started = await this.conversations.start(
      credential,
      {
        model,
        messages: (identity, baseUrl) =>
          images
            ? images.load().then((loaded) => this.messageWithImages(instruction, loaded, identity, baseUrl, signal))
            : Promise.resolve([userMessage(instruction)]),
        historyDisabled: this.config.historyDisabled || this.config.forceNoHistory,
      },
      signal,
    );
    return { requested, started };
  }

  /**
   * The drawing request with the images attached, uploaded as the attempt's account (a retry on another account
   * uploads them again), in the shape a chat gives its image attachments: the images, then the instruction.
   */
  private messageWithImages(
    instruction: string,
    images: readonly FileBytes[],
    identity: UpstreamIdentity,
    baseUrl: string,
    signal: AbortSignal,
  ): Promise<UpstreamMessage[]> {
    const parts = new Map<AttachmentPart, FileBytes>(
      images.map((image, index): [AttachmentPart, FileBytes] => [{ type: 'image_url', image_url: { url: `image[${index}]` } }, image]),
    );
    const content = [...parts.keys(), { type: 'text' as const, text: instruction }];
    return convertMessages([{ role: 'user', content }], (part) => this.attachments.upload(parts.get(part)!, identity, baseUrl, signal));
  }

  /** Reads the upstream's answer to the end: the image it drew, or the reason it drew none. */
  private async drawn({ started }: Drawing, prompt: string): Promise<DrawnImage> {
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
    return { started, path: generatedFilePath(images[0]), revisedPrompt: revisedPromptOf(text) ?? prompt };
  }

  /** The drawn image's bytes, in the format the client asked for (`output_format`), else as the upstream made them. */
  private async imageBytes(
    started: StartedConversation,
    path: string,
    output: ImageOutput | undefined,
    signal: AbortSignal,
  ): Promise<Buffer> {
    const file = await this.fileLinks.bytes(started, path, signal);
    if (!file) throw imageUnavailable();
    return output ? encodeImage(file.bytes, output) : file.bytes;
  }

  /**
   * What the upstream drew, described as OpenAI does. Size and format are read from the image itself; quality and
   * background are the upstream's choice (`auto`). Usage is an estimate: the prompt's tokens, and an edit's source
   * images counted as a chat counts image attachments; the image's own output tokens are unknown here, so 0.
   */
  private described(bytes: Buffer, request: ImageGenerationRequestDto, images: readonly FileBytes[] = []): ImageDescription {
    const dimensions = imageSize(bytes);
    const textTokens = this.counter.count(request.prompt, 'o200k_base');
    const imageTokenCount = images.reduce((sum, image) => {
      const size = imageSize(image.bytes);
      return sum + (size ? imageTokens(size.width, size.height) : 0);
    }, 0);
    const inputTokens = textTokens + imageTokenCount;
    return {
      size: dimensions ? `${dimensions.width}x${dimensions.height}` : (request.size ?? 'auto'),
      quality: 'auto',
      background: 'auto',
      output_format: OUTPUT_FORMATS[imageTypeOf(bytes) ?? 'image/png'] ?? 'png',
      usage: {
        input_tokens: inputTokens,
        input_tokens_details: { image_tokens: imageTokenCount, text_tokens: textTokens },
        output_tokens: 0,
        total_tokens: inputTokens,
      },
    };
  }
}

const OUTPUT_FORMATS: Partial<Record<string, ImageOutputFormat>> = {
  'image/png': 'png',
  'image/jpeg': 'jpeg',
  'image/webp': 'webp',
};

/** OpenAI's image stream framing: the event's type as the `event:` name, the event itself as `data:`. */
function sseEvent(event: ImageCompletedEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** A failure inside the stream: the API's error envelope, which the openai SDKs throw as an `APIError`. */
function errorEvent(body: ApiErrorBody): string {
  return `event: error\ndata: ${JSON.stringify({ type: 'error', ...body })}\n\n`;
}

function outputOf(request: ImageGenerationRequestDto): ImageOutput | undefined {
  if (!request.output_format) return undefined;
  return { format: request.output_format, compression: request.output_compression };
}

/** The model a request draws with: the one it names, else OpenAI's default for what it asks (a GPT image model streams and edits). */
function modelOf(request: ImageGenerationRequestDto, editing: boolean): string {
  return request.model || (request.stream || editing ? DEFAULT_GPT_IMAGE_MODEL : DEFAULT_IMAGE_MODEL);
}

function drawInstruction(prompt: string, size: string, sourceImages: number): string {
  const shape = size === 'auto' ? '' : ` The image must be ${size} pixels (width x height).`;
  const task =
    sourceImages === 0
      ? 'draw exactly one image of the prompt below'
      : `edit the attached image${sourceImages === 1 ? '' : 's'} as the prompt below asks, drawing exactly one new image`;
  return `Use the image generation tool to ${task}. Do not ask questions and do not answer with text only.${shape}\n\nPrompt: ${prompt}`;
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
