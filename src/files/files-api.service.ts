import { Injectable } from '@nestjs/common';
import { ApiError } from '../common/errors/api-error';
import type { FormFile } from '../common/http/request-body';
import { UPLOAD_PURPOSES, UploadedFileStore, type UploadPurpose, type UploadedFile } from './uploaded-file.store';

/** OpenAI's `file` object. `status` is always `processed`: a file is usable as soon as the upload answers. */
export interface FileObject {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: UploadPurpose;
  status: 'processed';
  expires_at: number | null;
  status_details: null;
}

export interface FileList {
  object: 'list';
  data: FileObject[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

export interface DeletedFile {
  id: string;
  object: 'file';
  deleted: true;
}

/** A multipart upload as the route received it: the `file` part (when there was one) and the text fields. */
export interface ReceivedUpload {
  file?: FormFile;
  fields: Record<string, unknown>;
}

/** OpenAI's bounds for `expires_after.seconds` (an hour to 30 days). */
const MIN_EXPIRY_SEC = 3600;
const MAX_EXPIRY_SEC = 30 * 24 * 3600;
const MAX_LIST_LIMIT = 10_000;
/** Characters of a file name kept (a file system's usual limit). */
const MAX_FILENAME_LENGTH = 255;
/** Types told by the name when the client sent the part as `application/octet-stream` (the SDKs do for a plain buffer). */
const TYPES_BY_EXTENSION: Record<string, string> = {
  pdf: 'application/pdf',
  txt: 'text/plain',
  md: 'text/markdown',
  csv: 'text/csv',
  json: 'application/json',
  html: 'text/html',
  py: 'text/x-python',
  js: 'text/javascript',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
};

/** `/v1/files` (openai-api.md): the checks and wire shapes of OpenAI's Files API over `UploadedFileStore`. */
@Injectable()
export class FilesApiService {
  constructor(private readonly store: UploadedFileStore) {}

  async create(owner: string, upload: ReceivedUpload): Promise<FileObject> {
    const purpose = purposeOf(upload.fields.purpose);
    const expiresAfterSec = expiryOf(upload.fields.expires_after);
    if (!upload.file) throw ApiError.of('missing_required_parameter', { param: 'file' }, { param: 'file' });
    const filename = Array.from(upload.file.originalname || 'file')
      .slice(0, MAX_FILENAME_LENGTH)
      .join('');
    const file = await this.store.create(owner, {
      filename,
      purpose,
      mimeType: mimeTypeOf(filename, upload.file.mimetype),
      bytes: upload.file.buffer,
      expiresAfterSec,
    });
    return fileObjectOf(file);
  }

  async list(owner: string, query: Record<string, unknown>): Promise<FileList> {
    const limit = limitOf(query.limit);
    const order = query.order ?? 'desc';
    if (order !== 'asc' && order !== 'desc')
      throw ApiError.of('invalid_value', { param: 'order', problem: "must be 'asc' or 'desc'" }, { param: 'order' });
    const purpose = typeof query.purpose === 'string' && query.purpose ? query.purpose : undefined;
    let files = (await this.store.list(owner)).filter((file) => !purpose || file.purpose === purpose);
    if (order === 'desc') files.reverse();
    if (typeof query.after === 'string' && query.after) {
      const at = files.findIndex((file) => file.id === query.after);
      files = at < 0 ? [] : files.slice(at + 1);
    }
    const data = files.slice(0, limit).map(fileObjectOf);
    return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: files.length > limit };
  }

  async retrieve(owner: string, id: string): Promise<FileObject> {
    const file = await this.store.find(owner, id);
    if (!file) throw notFound(id);
    return fileObjectOf(file);
  }

  async content(owner: string, id: string): Promise<{ file: FileObject; bytes: Buffer }> {
    const found = await this.store.content(owner, id);
    if (!found) throw notFound(id);
    return { file: fileObjectOf(found.file), bytes: found.bytes };
  }

  async delete(owner: string, id: string): Promise<DeletedFile> {
    if (!(await this.store.delete(owner, id))) throw notFound(id);
    return { id, object: 'file', deleted: true };
  }
}

function fileObjectOf(file: UploadedFile): FileObject {
  return {
    id: file.id,
    object: 'file',
    bytes: file.bytes,
    created_at: file.createdAt,
    filename: file.filename,
    purpose: file.purpose,
    status: 'processed',
    expires_at: file.expiresAt,
    status_details: null,
  };
}

function notFound(id: string): ApiError {
  // The id is echoed as OpenAI does, cut short: it is whatever the client put in the path.
  return ApiError.of('uploaded_file_not_found', { id: id.slice(0, 64) });
}

function purposeOf(value: unknown): UploadPurpose {
  if (value === undefined || value === '') throw ApiError.of('missing_required_parameter', { param: 'purpose' }, { param: 'purpose' });
  if (typeof value === 'string' && (UPLOAD_PURPOSES as readonly string[]).includes(value)) return value as UploadPurpose;
  const shown = typeof value === 'string' ? value.slice(0, 40) : JSON.stringify(value).slice(0, 40);
  // OpenAI's wording, listing the purposes this server takes.
  throw ApiError.invalidRequest(
    `'${shown}' is not one of [${UPLOAD_PURPOSES.map((purpose) => `'${purpose}'`).join(', ')}] - 'purpose'`,
    'invalid_value',
    'purpose',
  );
}

/** `expires_after[anchor]=created_at` with `expires_after[seconds]`; multer reads the bracketed names into an object. */
function expiryOf(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const expiry = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (expiry.anchor !== 'created_at') {
    throw ApiError.of(
      'invalid_value',
      { param: 'expires_after.anchor', problem: "must be 'created_at'" },
      { param: 'expires_after.anchor' },
    );
  }
  const seconds = Number(expiry.seconds);
  if (!Number.isInteger(seconds) || seconds < MIN_EXPIRY_SEC || seconds > MAX_EXPIRY_SEC) {
    throw ApiError.of(
      'invalid_value',
      { param: 'expires_after.seconds', problem: `must be a whole number of seconds from ${MIN_EXPIRY_SEC} to ${MAX_EXPIRY_SEC}` },
      { param: 'expires_after.seconds' },
    );
  }
  return seconds;
}

function limitOf(value: unknown): number {
  if (value === undefined || value === '') return MAX_LIST_LIMIT;
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw ApiError.of(
      'invalid_value',
      { param: 'limit', problem: `must be a whole number from 1 to ${MAX_LIST_LIMIT}` },
      { param: 'limit' },
    );
  }
  return limit;
}

function mimeTypeOf(filename: string, declared: string): string {
  const type = declared.split(';')[0].trim().toLowerCase();
  if (type && type !== 'application/octet-stream') return type;
  const extension = /\.([A-Za-z0-9]+)$/.exec(filename)?.[1].toLowerCase();
  return (extension && TYPES_BY_EXTENSION[extension]) || 'application/octet-stream';
}
