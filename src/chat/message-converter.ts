import { randomUUID } from 'node:crypto';
import { ApiError } from '../common/errors/api-error';
import type { AttachmentPart, ChatMessageDto } from './dto/chat-completion.dto';

/** A file already uploaded to the upstream, ready to be attached to a message. */
export interface UploadedFile {
  fileId: string;
  name: string;
  mimeType: string;
  size: number;
  width?: number;
  height?: number;
}

/** Uploads the image or file a content part points at. */
export type AttachmentUploader = (part: AttachmentPart) => Promise<UploadedFile>;

export interface UpstreamMessage {
  id: string;
  author: { role: string };
  content: { content_type: 'text'; parts: string[] } | { content_type: 'multimodal_text'; parts: unknown[] };
  metadata: Record<string, unknown>;
}

const UPSTREAM_ROLE: Record<string, string> = {
  system: 'system',
  developer: 'system',
  user: 'user',
  assistant: 'assistant',
  tool: 'user',
  function: 'user',
};

/** Converts OpenAI messages into upstream messages (openai-api.md §5, upstream-protocol.md §6). */
export async function convertMessages(messages: ChatMessageDto[], upload?: AttachmentUploader): Promise<UpstreamMessage[]> {
  const converted: UpstreamMessage[] = [];
  for (const [index, message] of messages.entries()) {
    converted.push(await convertMessage(message, `messages[${index}]`, upload));
  }
  return converted;
}

async function convertMessage(message: ChatMessageDto, path: string, upload?: AttachmentUploader): Promise<UpstreamMessage> {
  const role = UPSTREAM_ROLE[message.role];
  const prefix = labelFor(message);
  const trailer = toolCallsText(message);
  if (!Array.isArray(message.content)) {
    return textMessage(role, `${prefix}${message.content ?? ''}${trailer}`);
  }

  const parts: unknown[] = [];
  const attachments: Record<string, unknown>[] = [];
  for (const [index, part] of message.content.entries()) {
    if (part.type === 'text') parts.push(part.text);
    // An earlier refusal (validated to be an assistant's) is part of the history the model should see, as the text it said.
    else if (part.type === 'refusal') parts.push(part.refusal);
    else {
      if (!upload) throw unsupportedPart(part.type, `${path}.content[${index}]`);
      const file = await upload(part);
      attachments.push(attachmentOf(file));
      if (file.width !== undefined && file.height !== undefined) {
        parts.push({
          content_type: 'image_asset_pointer',
          asset_pointer: `file-service://${file.fileId}`,
          size_bytes: file.size,
          width: file.width,
          height: file.height,
        });
      }
    }
  }
  if (attachments.length === 0) return textMessage(role, `${prefix}${parts.join('\n')}${trailer}`);
  if (prefix) parts.unshift(prefix.trimEnd());
  if (trailer) parts.push(trailer.trimStart());
  return { id: randomUUID(), author: { role }, content: { content_type: 'multimodal_text', parts }, metadata: { attachments } };
}

function textMessage(role: string, text: string): UpstreamMessage {
  return { id: randomUUID(), author: { role }, content: { content_type: 'text', parts: [text] }, metadata: {} };
}

/** Tool results become user text labelled with the tool; a `name` is kept as a prefix. */
function labelFor(message: ChatMessageDto): string {
  if (message.role === 'tool' || message.role === 'function') {
    const tool = message.name ?? message.tool_call_id ?? 'tool';
    return `[Result of ${tool}]\n`;
  }
  return message.name ? `${message.name}: ` : '';
}

function toolCallsText(message: ChatMessageDto): string {
  if (message.role !== 'assistant' || !message.tool_calls?.length) return '';
  const calls = message.tool_calls.map((call) => `${call.function?.name ?? 'tool'}(${call.function?.arguments ?? ''})`);
  return `\n[Called ${calls.join(', ')}]`;
}

function attachmentOf(file: UploadedFile): Record<string, unknown> {
  const attachment: Record<string, unknown> = { id: file.fileId, size: file.size, name: file.name, mime_type: file.mimeType };
  if (file.width !== undefined) attachment.width = file.width;
  if (file.height !== undefined) attachment.height = file.height;
  return attachment;
}

function unsupportedPart(type: string, path: string): ApiError {
  return ApiError.of('unsupported_content', { type, path }, { param: `${path}.type` });
}
