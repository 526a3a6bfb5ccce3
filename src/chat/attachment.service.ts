import { Injectable } from '@nestjs/common';
import { ApiError } from '../common/errors/api-error';
import { AppConfig } from '../config/app-config';
import { UploadedFileStore } from '../files/uploaded-file.store';
import type { UpstreamIdentity } from '../upstream/upstream.client';
import { type AttachmentPart, type ChatMessageDto, type ContentPart, isAttachmentPart } from './dto/chat-completion.dto';
import { AttachmentBudget, clientName, ClientFileFetcher, type FileBytes, type FileUrl } from './client-file.fetcher';
import type { UploadedFile } from './message-converter';
import { UpstreamFileUploader } from './upstream-file.uploader';

/**
 * One request's images and files, each read once however many attempts and rounds use it: the inline ones at
 * once, the URLs on the first `fetched()`.
 */
export class RequestFiles {
  private fetching?: Promise<void>;

  constructor(
    private readonly files = new Map<AttachmentPart, FileBytes>(),
    private readonly urls: ReadonlyMap<AttachmentPart, FileUrl> = new Map(),
    private readonly fetchUrl?: (file: FileUrl) => Promise<FileBytes>,
  ) {}

  /** A part's bytes; undefined for a URL not fetched yet. */
  get(part: AttachmentPart): FileBytes | undefined {
    return this.files.get(part);
  }

  /** Fetches the URL parts one after another, so a spent budget stops the rest unfetched. */
  fetched(): Promise<void> {
    this.fetching ??= (async () => {
      for (const [part, url] of this.urls) this.files.set(part, await this.fetchUrl!(url));
    })();
    return this.fetching;
  }
}

/**
 * A request's images and files: read from the client (`ClientFileFetcher`) once per request, then uploaded to the
 * upstream as whichever account an attempt uses (`UpstreamFileUploader`).
 */
@Injectable()
export class AttachmentService {
  constructor(
    private readonly config: AppConfig,
    private readonly fetcher: ClientFileFetcher,
    private readonly uploader: UpstreamFileUploader,
    private readonly uploads: UploadedFileStore,
  ) {}

  /**
   * `UPLOAD_BY_URL`: "https://a.png https://b.pdf what is this?" becomes a text part and one part per URL; a message
   * that is only URLs becomes their parts alone.
   */
  expandLeadingUrls(messages: ChatMessageDto[]): ChatMessageDto[] {
    return messages.map((message) => {
      if (message.role !== 'user' || typeof message.content !== 'string') return message;
      const match = /^((?:https?:\/\/\S+(?:\s+|$))+)([\s\S]*)$/.exec(message.content);
      if (!match) return message;
      const urls = match[1].trim().split(/\s+/);
      const text: ContentPart[] = match[2] ? [{ type: 'text', text: match[2] }] : [];
      const content: ContentPart[] = [...text, ...urls.map((url): ContentPart => ({ type: 'image_url', image_url: { url } }))];
      return { ...message, content };
    });
  }

  /**
   * Decodes every inline image and file and checks every URL before any attempt, so that bad input is a 400 up
   * front. The URLs are fetched only when an attempt needs their bytes, which is after the upstream has accepted
   * the request's credential: a forged key makes this server download nothing. Inline and fetched bytes together
   * stay within `MAX_ATTACHMENTS_SIZE`. Errors name a part by its chat message path unless `params` has its field. A
   * `file_id` names a file `owner` (the digest of the request's API key) uploaded to `/v1/files`: only theirs are found.
   */
  async open(
    messages: ChatMessageDto[],
    signal: AbortSignal,
    params?: ReadonlyMap<AttachmentPart, string>,
    owner?: string,
  ): Promise<RequestFiles> {
    const budget = new AttachmentBudget(this.config.maxAttachmentsBytes);
    const files = new Map<AttachmentPart, FileBytes>();
    const urls = new Map<AttachmentPart, FileUrl>();
    for (const [index, message] of messages.entries()) {
      if (!Array.isArray(message.content)) continue;
      for (const [partIndex, part] of message.content.entries()) {
        if (!isAttachmentPart(part)) continue;
        const param = params?.get(part) ?? `messages[${index}].content[${partIndex}].${fieldOf(part)}`;
        if (isUploadReference(part)) {
          files.set(part, await this.uploaded(part.file, owner, param, budget));
          continue;
        }
        const opened = await this.fetcher.open(part, param);
        if ('url' in opened) {
          urls.set(part, opened);
        } else {
          budget.take(opened.bytes.length, param);
          files.set(part, opened);
        }
      }
    }
    return new RequestFiles(files, urls, (url) => this.fetcher.fetch(url, budget, signal));
  }

  /**
   * The bytes of a file uploaded to `/v1/files` by `owner`; any other id, or another key's file, is a 400 naming `param`.
   * Its size is counted against `budget` from its record, before the bytes are read: a file past what is left is refused
   * without being loaded.
   */
  private async uploaded(
    reference: { file_id?: string; filename?: string },
    owner: string | undefined,
    param: string,
    budget: AttachmentBudget,
  ): Promise<FileBytes> {
    const id = reference.file_id!;
    const unknown = () => ApiError.of('uploaded_file_unknown', { param, id: id.slice(0, 64) }, { param });
    const file = owner ? await this.uploads.find(owner, id) : undefined;
    if (!file) throw unknown();
    budget.take(file.bytes, param);
    const found = await this.uploads.content(owner!, id);
    if (!found) throw unknown();
    return { bytes: found.bytes, mimeType: found.file.mimeType, name: clientName(reference.filename ?? found.file.filename) };
  }

  /** Uploads one loaded file to the upstream as the given account. */
  upload(file: FileBytes, identity: UpstreamIdentity, baseUrl: string, signal: AbortSignal): Promise<UploadedFile> {
    return this.uploader.upload(file, identity, baseUrl, signal);
  }
}

/** A `file` part that names an uploaded file instead of carrying its bytes. */
function isUploadReference(part: AttachmentPart): part is AttachmentPart & { type: 'file' } {
  return part.type === 'file' && (part.file.file_data === undefined || part.file.file_data === null);
}

/** The field of a part that holds its file, as errors name it. */
function fieldOf(part: AttachmentPart): string {
  if (part.type === 'image_url') return 'image_url.url';
  return isUploadReference(part) ? 'file.file_id' : 'file.file_data';
}
