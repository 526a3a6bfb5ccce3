import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { UpstreamClient, UpstreamIdentity } from '../upstream/upstream.client';
import { upstreamFailure } from '../upstream/upstream-failure';
import { UpstreamError } from '../common/errors/upstream-error';
import type { FileBytes } from './client-file.fetcher';
import { imageSize, imageTypeOf } from './image-size';
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
const UPLOAD_TIMEOUT_MS = 60_000;
const INDEX_POLLS = 30;
const BLOB_HEADERS = { 'x-ms-blob-type': 'BlockBlob', 'x-ms-version': '2020-04-08' };

/**
 * Puts a file into the upstream's files API as one account (upstream-protocol.md §9): create, PUT the bytes
 * to the blob URL, confirm, and for documents wait until the file is indexed for retrieval.
 */
@Injectable()
export class UpstreamFileUploader {
  private readonly logger = new Logger(UpstreamFileUploader.name);

  constructor(private readonly upstream: UpstreamClient) {}

  async upload(file: FileBytes, identity: UpstreamIdentity, baseUrl: string, signal: AbortSignal): Promise<UploadedFile> {
    // The declared type is only a hint (a data: URL's `image/jpg` or none, a bucket's `binary/octet-stream`): an image is what its bytes say.
    const imageType = imageTypeOf(file.bytes);
    const size = imageType && imageSize(file.bytes);
    const mimeType = imageType && size ? imageType : file.mimeType in IMAGE_TYPES ? 'text/plain' : file.mimeType;
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
      timeoutMs: UPLOAD_TIMEOUT_MS,
      signal,
      step: 'files',
    });
    if (put.status !== 201 && put.status !== 200) throw upstreamFailure('files', put.status, put.headers, put.body);
    await this.call(identity, baseUrl, 'POST', `/backend-api/files/${encodeURIComponent(fileId)}/uploaded`, signal, {});
    if (useCase === 'my_files') await this.waitForIndexing(identity, baseUrl, fileId, signal);
    return { fileId, name, mimeType, size: file.bytes.length, width: size?.width, height: size?.height };
  }

  /**
   * Waits for a document to be indexed for retrieval, at most `INDEX_POLLS` seconds. The file is uploaded by now: a
   * status poll that fails ends the wait as the time limit does, and the file is sent; it must not cost the attempt
   * (and an upload again on the next one).
   */
  private async waitForIndexing(identity: UpstreamIdentity, baseUrl: string, fileId: string, signal: AbortSignal): Promise<void> {
    for (let poll = 0; poll < INDEX_POLLS; poll++) {
      let status: Record<string, unknown>;
      try {
        status = await this.call(identity, baseUrl, 'GET', `/backend-api/files/${encodeURIComponent(fileId)}`, signal);
      } catch (error) {
        if (signal.aborted) throw error;
        this.logger.warn(`file ${fileId}: the index status poll failed (${(error as Error).message}); sending it unindexed`);
        return;
      }
      if (status.retrieval_index_status === 'success') return;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    this.logger.warn(`file ${fileId} was not indexed after ${INDEX_POLLS} s; sending it anyway`);
  }

  private async call(
    identity: UpstreamIdentity,
    baseUrl: string,
    method: 'GET' | 'POST',
    path: string,
    signal: AbortSignal,
    json?: unknown,
  ): Promise<Record<string, unknown>> {
    const response = await this.upstream.request({ method, url: `${baseUrl}${path}`, identity, json, signal, step: 'files' });
    if (response.status !== 200) throw upstreamFailure('files', response.status, response.headers, response.body);
    try {
      return JSON.parse(response.body.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new UpstreamError({ kind: 'files_unreadable', step: 'files' });
    }
  }
}
