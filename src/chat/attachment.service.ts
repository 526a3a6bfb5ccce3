import { Injectable } from '@nestjs/common';
import type { UpstreamIdentity } from '../upstream/upstream.client';
import { type AttachmentPart, type ChatMessageDto, type ContentPart, isAttachmentPart } from './dto/chat-completion.dto';
import { ClientFileFetcher, type FileBytes } from './client-file.fetcher';
import type { UploadedFile } from './message-converter';
import { UpstreamFileUploader } from './upstream-file.uploader';

/**
 * A request's images and files: read once from the client (`ClientFileFetcher`) before any attempt, then
 * uploaded to the upstream as whichever account an attempt uses (`UpstreamFileUploader`).
 */
@Injectable()
export class AttachmentService {
  constructor(
    private readonly fetcher: ClientFileFetcher,
    private readonly uploader: UpstreamFileUploader,
  ) {}

  /** `UPLOAD_BY_URL`: "https://a.png https://b.pdf what is this?" becomes a text part and one part per URL. */
  expandLeadingUrls(messages: ChatMessageDto[]): ChatMessageDto[] {
    return messages.map((message) => {
      if (message.role !== 'user' || typeof message.content !== 'string') return message;
      const match = /^((?:https?:\/\/\S+\s+)+)([\s\S]*)$/.exec(message.content);
      if (!match) return message;
      const urls = match[1].trim().split(/\s+/);
      const content: ContentPart[] = [
        { type: 'text', text: match[2] },
        ...urls.map((url): ContentPart => ({ type: 'image_url', image_url: { url } })),
      ];
      return { ...message, content };
    });
  }

  /**
   * Decodes or fetches every image and file part once, before any attempt, so that bad input is a 400
   * up front and retries on other accounts do not fetch again.
   */
  async load(messages: ChatMessageDto[], signal: AbortSignal): Promise<Map<AttachmentPart, FileBytes>> {
    const files = new Map<AttachmentPart, FileBytes>();
    for (const [index, message] of messages.entries()) {
      if (!Array.isArray(message.content)) continue;
      for (const [partIndex, part] of message.content.entries()) {
        if (isAttachmentPart(part)) files.set(part, await this.fetcher.read(part, `messages[${index}].content[${partIndex}]`, signal));
      }
    }
    return files;
  }

  /** Uploads one loaded file to the upstream as the given account. */
  upload(file: FileBytes, identity: UpstreamIdentity, baseUrl: string, signal: AbortSignal): Promise<UploadedFile> {
    return this.uploader.upload(file, identity, baseUrl, signal);
  }
}
