import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import { AppConfig } from '../config/app-config';
import { ApiError } from '../common/errors/api-error';
import { transportDetail, UpstreamClient, UpstreamIdentity, type UpstreamStream } from '../upstream/upstream.client';
import { upstreamFailure } from '../upstream/upstream-failure';
import { UpstreamError } from '../common/errors/upstream-error';
import type { ChatMessageDto, ContentPart } from './dto/chat-completion.dto';
import { assertPublicUrl, HostLookup, isPrivateAddress, systemLookup } from './file-url-guard';
import { imageSize } from './image-size';
import type { UploadedFile } from './message-converter';

const IMAGE_TYPES: Record<string, string> = { 'image/jpeg': '.jpg', 'image/png': '.png', 'image/gif': '.gif', 'image/webp': '.webp' };
const DOCUMENT_TYPES: Record<string, string> = {
  'application/pdf': '.pdf',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': '.docx',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': '.pptx',
  'application/json': '.json',
  'text/markdown': '.md',
  'text/plain': '.txt',
  'text/x-python': '.py',
  'text/javascript': '.js',
  'text/html': '.html',
  'text/csv': '.csv',
};
const FETCH_TIMEOUT_MS = 60_000;
const INDEX_POLLS = 30;
const BLOB_HEADERS = { 'x-ms-blob-type': 'BlockBlob', 'x-ms-version': '2020-04-08' };

export interface FileBytes {
  bytes: Buffer;
  mimeType: string;
  name?: string;
}

/**
 * Image and file input (upstream-protocol.md §9): decodes `data:` URLs or fetches public URLs
 * (never private addresses unless `ALLOW_PRIVATE_FILE_URLS`), then uploads to the upstream.
 */
@Injectable()
export class AttachmentService {
  private readonly logger = new Logger(AttachmentService.name);
  /** How client URL host names are resolved for the private-address check (replaceable in tests). */
  hostLookup: HostLookup = systemLookup;

  constructor(
    private readonly config: AppConfig,
    private readonly upstream: UpstreamClient,
  ) {}

  /** `UPLOAD_BY_URL`: "https://a.png https://b.pdf what is this?" becomes a text part and one part per URL. */
  expandLeadingUrls(messages: ChatMessageDto[]): ChatMessageDto[] {
    return messages.map((message) => {
      if (message.role !== 'user' || typeof message.content !== 'string') return message;
      const match = /^((?:https?:\/\/\S+\s+)+)([\s\S]*)$/.exec(message.content);
      if (!match) return message;
      const urls = match[1].trim().split(/\s+/);
      return { ...message, content: [{ type: 'text', text: match[2] }, ...urls.map((url) => ({ type: 'image_url', image_url: { url } }))] };
    });
  }

  /**
   * Decodes or fetches every image and file part once, before any attempt, so that bad input is a 400
   * up front and retries on other accounts do not fetch again.
   */
  async load(messages: ChatMessageDto[], signal: AbortSignal): Promise<Map<ContentPart, FileBytes>> {
    const files = new Map<ContentPart, FileBytes>();
    for (const [index, message] of messages.entries()) {
      if (!Array.isArray(message.content)) continue;
      for (const [partIndex, part] of message.content.entries()) {
        const path = `messages[${index}].content[${partIndex}]`;
        if (part.type === 'image_url' || part.type === 'file') files.set(part, await this.read(part, path, signal));
        else if (part.type !== 'text' && !(part.type === 'refusal' && message.role === 'assistant')) throw ApiError.of('unsupported_content', { type: part.type, path }, { param: `${path}.type` });
      }
    }
    return files;
  }

  /** Uploads one loaded file to the upstream as the given account. */
  async upload(file: FileBytes, identity: UpstreamIdentity, baseUrl: string, signal: AbortSignal): Promise<UploadedFile> {
    const size = file.mimeType in IMAGE_TYPES ? imageSize(file.bytes) : null;
    const mimeType = file.mimeType in IMAGE_TYPES && !size ? 'text/plain' : file.mimeType;
    const extension = IMAGE_TYPES[mimeType] ?? DOCUMENT_TYPES[mimeType] ?? '';
    const useCase = mimeType in IMAGE_TYPES ? 'multimodal' : mimeType in DOCUMENT_TYPES ? 'my_files' : 'ace_upload';
    const name = file.name ?? `${randomUUID()}${extension}`;

    const created = await this.call(identity, baseUrl, 'POST', '/backend-api/files', signal, {
      file_name: name,
      file_size: file.bytes.length,
      reset_rate_limits: false,
      timezone_offset_min: -480,
      use_case: useCase,
    });
    const fileId = created.file_id;
    const uploadUrl = created.upload_url;
    if (typeof fileId !== 'string' || typeof uploadUrl !== 'string') throw new UpstreamError({ kind: 'files_refused', step: 'files' });

    const put = await this.upstream.request({
      method: 'PUT',
      url: uploadUrl,
      body: file.bytes,
      headers: { 'content-type': mimeType, ...BLOB_HEADERS },
      proxyUrl: identity.fingerprint.proxyUrl ?? null,
      timeoutMs: FETCH_TIMEOUT_MS,
      signal,
      step: 'files',
    });
    if (put.status !== 201 && put.status !== 200) throw upstreamFailure('files', put.status, put.headers, put.body);
    await this.call(identity, baseUrl, 'POST', `/backend-api/files/${encodeURIComponent(fileId)}/uploaded`, signal, {});
    if (useCase === 'my_files') await this.waitForIndexing(identity, baseUrl, fileId, signal);
    return { fileId, name, mimeType, size: file.bytes.length, width: size?.width, height: size?.height };
  }

  private async read(part: ContentPart, path: string, signal: AbortSignal): Promise<FileBytes> {
    if (part.type === 'image_url') {
      const url = (part as { image_url?: { url?: unknown } }).image_url?.url;
      if (typeof url !== 'string' || !url) throw ApiError.of('missing_required_parameter', { param: `${path}.image_url.url` }, { param: `${path}.image_url.url` });
      return url.startsWith('data:') ? decodeDataUrl(url, `${path}.image_url.url`) : this.fetch(url, `${path}.image_url.url`, signal);
    }
    const file = (part as { file?: { file_data?: unknown; filename?: unknown } }).file;
    if (typeof file?.file_data !== 'string') {
      throw ApiError.of('missing_required_parameter', { param: `${path}.file.file_data`, hint: ' (a data: URL)' }, { param: `${path}.file.file_data` });
    }
    const decoded = decodeDataUrl(file.file_data, `${path}.file.file_data`);
    return { ...decoded, name: typeof file.filename === 'string' ? sanitizeName(file.filename) : undefined };
  }

  private async fetch(raw: string, param: string, signal: AbortSignal): Promise<FileBytes> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw ApiError.of('invalid_value', { param, problem: 'not a URL' }, { param });
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw ApiError.of('invalid_value', { param, problem: 'only http(s) and data: URLs are supported' }, { param });
    }
    const { allowPrivateFileUrls, exportProxyUrl, cfFileUrl } = this.config;
    const checkAddresses = !allowPrivateFileUrls;
    const fetchedHere = !exportProxyUrl && !cfFileUrl;
    try {
      // Resolved here even when a proxy or an external fetcher fetches it, so a name leading inside is refused before it is handed on.
      if (checkAddresses) await assertPublicUrl(url, this.hostLookup);
      const fetched = await this.upstream.stream({
        ...(cfFileUrl ? { method: 'POST', url: cfFileUrl, json: { file_url: raw } } : { url: url.toString() }),
        proxyUrl: exportProxyUrl ?? null,
        timeoutMs: FETCH_TIMEOUT_MS,
        totalTimeoutMs: FETCH_TIMEOUT_MS,
        // Redirects could lead inside; the address is checked again at connect time for DNS answers that change.
        followRedirects: !checkAddresses,
        dnsLookup: checkAddresses && fetchedHere ? publicOnlyLookup : undefined,
        signal,
        step: 'file_fetch',
      });
      const { bytes, statusCode, contentType } = await readBody(fetched, this.config.maxBodyBytes);
      if (statusCode !== 200) throw new Error(`status ${statusCode}`);
      const mimeType = (contentType ?? 'application/octet-stream').split(';')[0].trim().toLowerCase();
      return { bytes, mimeType, name: sanitizeName(url.pathname.split('/').pop() ?? '') || undefined };
    } catch (error) {
      if (signal.aborted) throw error;
      const reason = transportDetail(error);
      this.logger.warn(`could not fetch a file from ${url.host}: ${reason}`);
      throw ApiError.of('invalid_image_url', { param, reason }, { param });
    }
  }

  private async waitForIndexing(identity: UpstreamIdentity, baseUrl: string, fileId: string, signal: AbortSignal): Promise<void> {
    for (let poll = 0; poll < INDEX_POLLS; poll++) {
      const status = await this.call(identity, baseUrl, 'GET', `/backend-api/files/${encodeURIComponent(fileId)}`, signal);
      if (status.retrieval_index_status === 'success') return;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    this.logger.warn(`file ${fileId} was not indexed after ${INDEX_POLLS} s; sending it anyway`);
  }

  private async call(identity: UpstreamIdentity, baseUrl: string, method: 'GET' | 'POST', path: string, signal: AbortSignal, json?: unknown): Promise<Record<string, unknown>> {
    const response = await this.upstream.request({ method, url: `${baseUrl}${path}`, identity, json, signal, step: 'files' });
    if (response.status !== 200) throw upstreamFailure('files', response.status, response.headers, response.body);
    try {
      return JSON.parse(response.body.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new UpstreamError({ kind: 'files_unreadable', step: 'files' });
    }
  }
}

export function decodeDataUrl(url: string, param: string): FileBytes {
  const match = /^data:([\w.+-]+\/[\w.+-]+)?((?:;[\w-]+=[^;,]*)*);base64,(.*)$/s.exec(url);
  const invalid = () => ApiError.of('invalid_base64', { param }, { param });
  if (!match) throw invalid();
  const data = match[3].replace(/\s+/g, '');
  if (!data || !/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 === 1) throw invalid();
  const bytes = Buffer.from(data, 'base64');
  if (bytes.length === 0) throw invalid();
  return { bytes, mimeType: (match[1] ?? 'application/octet-stream').toLowerCase() };
}

function sanitizeName(name: string): string {
  return name.replace(/[^\w.\- ]+/g, '_').slice(0, 120);
}


const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, '');
    if (addresses.length === 0 || addresses.some((entry) => isPrivateAddress(entry.address))) {
      return callback(Object.assign(new Error(`${hostname} is not a public address`), { code: 'EPRIVATEADDRESS' }), '');
    }
    if (options.all) return callback(null, addresses);
    return callback(null, addresses[0].address, addresses[0].family);
  });
};

async function readBody(response: UpstreamStream, limit: number): Promise<{ bytes: Buffer; statusCode: number; contentType?: string }> {
  const { body } = response;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      throw new Error(`larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return { bytes: Buffer.concat(chunks), statusCode: response.status, contentType: response.headers['content-type'] };
}
