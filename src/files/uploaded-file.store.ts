import { Injectable, Logger } from '@nestjs/common';
import { randomInt } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiError } from '../common/errors/api-error';
import { writeFileAtomically } from '../common/util/atomic-file';
import { Clock } from '../common/vocabulary/clock';
import { AppConfig } from '../config/app-config';

/** The purposes this server takes: files a conversation reads (OpenAI's batch and fine-tuning purposes need services it has not). */
export const UPLOAD_PURPOSES = ['assistants', 'vision', 'user_data'] as const;
export type UploadPurpose = (typeof UPLOAD_PURPOSES)[number];

/** What is kept about one uploaded file, beside its bytes. Times are Unix seconds, as OpenAI's `file` object has them. */
export interface UploadedFile {
  id: string;
  bytes: number;
  createdAt: number;
  filename: string;
  purpose: UploadPurpose;
  mimeType: string;
  expiresAt: number | null;
  /**
   * When it was uploaded, in milliseconds, later than every earlier upload of its owner even within one millisecond:
   * what orders the list (`createdAt` has whole seconds only). Records written before it was kept have none.
   */
  createdAtMs?: number;
}

export interface NewUpload {
  filename: string;
  purpose: UploadPurpose;
  mimeType: string;
  bytes: Buffer;
  /** Seconds after creation the file goes (`expires_after`); kept until deleted without. */
  expiresAfterSec?: number;
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const ID_LENGTH = 24;
/** The only ids that name a file: the server's own shape. Anything else (dots, slashes, other lengths) names none. */
const FILE_ID = new RegExp(`^file-[A-Za-z0-9]{${ID_LENGTH}}$`);
/** Owners are SHA-256 digests of an API key, in hex (`ApiKeyOwner`). */
const OWNER = /^[0-9a-f]{64}$/;
const RECORD_SUFFIX = '.json';
const BYTES_SUFFIX = '.bin';

export function isUploadedFileId(id: string): boolean {
  return FILE_ID.test(id);
}

/**
 * The files clients upload through `/v1/files`, for conversations to read by `file_id`. One folder per owner (the
 * digest of the API key that uploaded them) under `DATA_DIR/files/`, holding `<id>.bin` (the bytes) and `<id>.json`
 * (what the `file` object says); both are written atomically (temp file, fsync, rename), the bytes first, so a file
 * exists once its record does. Nothing is held in memory, so a restart loses none; the folder is this instance's own
 * (see below), never shared with another. An id or owner of any other shape than the server's own is refused before it is joined
 * to a path.
 *
 * Uploads run one after another, each measuring the folder first, so that the owner's allowance
 * (`FILES_MAX_OWNER_SIZE`) and the server's (`FILES_MAX_TOTAL_SIZE`) are checked against what is really there; one
 * server owns a `DATA_DIR`, so no other process writes meanwhile, and what the measure finds half written (a temp file,
 * bytes without their record) is what a crash left: it goes.
 */
@Injectable()
export class UploadedFileStore {
  private readonly logger = new Logger(UploadedFileStore.name);
  private readonly dir: string;
  /** The upload under way, if any: the next waits for it. */
  private writing: Promise<unknown> = Promise.resolve();
  /** The deletes under way, by owner and id: a second delete of one file answers that there was none. */
  private readonly deleting = new Map<string, Promise<boolean>>();

  constructor(
    private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {
    this.dir = join(config.dataDir, 'files');
  }

  /** Keeps `upload` for `owner`; a 413 when it would take the owner past `FILES_MAX_OWNER_SIZE`, or all past `FILES_MAX_TOTAL_SIZE`. */
  create(owner: string, upload: NewUpload): Promise<UploadedFile> {
    const folder = this.folderOf(owner);
    return this.oneAtATime(async () => {
      const used = await this.usage(owner);
      const size = upload.bytes.length;
      const { filesMaxOwnerBytes, filesMaxTotalBytes } = this.config;
      if (used.owner + size > filesMaxOwnerBytes)
        throw ApiError.of('files_quota_exceeded', { limit: filesMaxOwnerBytes, used: used.owner });
      if (used.total + size > filesMaxTotalBytes) {
        this.logger.warn(
          `an upload was refused: the uploaded files take ${used.total} bytes of FILES_MAX_TOTAL_SIZE ${filesMaxTotalBytes}`,
        );
        throw ApiError.of('files_storage_full', {});
      }
      const now = this.clock.now();
      const createdAt = Math.floor(now / 1000);
      const file: UploadedFile = {
        id: newFileId(),
        bytes: upload.bytes.length,
        createdAt,
        filename: upload.filename,
        purpose: upload.purpose,
        mimeType: upload.mimeType,
        expiresAt: upload.expiresAfterSec ? createdAt + upload.expiresAfterSec : null,
        createdAtMs: Math.max(now, used.latestMs + 1),
      };
      await mkdir(folder, { recursive: true, mode: 0o700 });
      await writeFileAtomically(join(folder, `${file.id}${BYTES_SUFFIX}`), upload.bytes);
      await writeFileAtomically(join(folder, `${file.id}${RECORD_SUFFIX}`), JSON.stringify(file));
      return file;
    });
  }

  /** The owner's files, oldest first; expired ones are left out (and removed). */
  async list(owner: string): Promise<UploadedFile[]> {
    const names = await namesIn(this.folderOf(owner));
    const ids = names.filter((name) => name.endsWith(RECORD_SUFFIX)).map((name) => name.slice(0, -RECORD_SUFFIX.length));
    const files = await Promise.all(ids.filter(isUploadedFileId).map((id) => this.readRecord(owner, id)));
    return files.filter((file): file is UploadedFile => file !== undefined).sort(byUploadOrder);
  }

  /** The file, only for the owner that uploaded it: to anyone else it does not exist. */
  async find(owner: string, id: string): Promise<UploadedFile | undefined> {
    return isUploadedFileId(id) ? this.readRecord(owner, id) : undefined;
  }

  /** The file and its bytes, for its owner only. */
  async content(owner: string, id: string): Promise<{ file: UploadedFile; bytes: Buffer } | undefined> {
    const file = await this.find(owner, id);
    if (!file) return undefined;
    try {
      return { file, bytes: await readFile(join(this.folderOf(owner), `${id}${BYTES_SUFFIX}`)) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** Removes the file, for its owner only; whether there was one. The record goes first: without it the bytes name no file. */
  async delete(owner: string, id: string): Promise<boolean> {
    const key = `${owner}/${id}`;
    const running = this.deleting.get(key);
    // Another delete of the same file is under way: once it is done, there is none for this one to delete.
    if (running) return running.then(() => false);
    const deleted = (async () => {
      if (!(await this.find(owner, id))) return false;
      await this.remove(this.folderOf(owner), id);
      return true;
    })();
    this.deleting.set(key, deleted);
    try {
      return await deleted;
    } finally {
      this.deleting.delete(key);
    }
  }

  /**
   * The bytes the uploaded files take: the owner's, and everyone's. Expired files go as it reads their records, and so
   * do leftovers of a crash (temp files, bytes without a record): no upload is being written while it runs.
   */
  private async usage(owner: string): Promise<{ owner: number; total: number; latestMs: number }> {
    const used = { owner: 0, total: 0, latestMs: 0 };
    for (const folderOwner of (await namesIn(this.dir)).filter((name) => OWNER.test(name))) {
      const folder = this.folderOf(folderOwner);
      const names = await namesIn(folder);
      const present = new Set(names);
      for (const name of names) {
        const id = name.endsWith(BYTES_SUFFIX) ? name.slice(0, -BYTES_SUFFIX.length) : '';
        if (name.endsWith('.tmp') || (isUploadedFileId(id) && !present.has(`${id}${RECORD_SUFFIX}`))) {
          await rm(join(folder, name), { force: true });
          continue;
        }
        const file = isUploadedFileId(id) ? await this.readRecord(folderOwner, id) : undefined;
        if (!file) continue;
        const size = (await stat(join(folder, name)).catch(() => null))?.size ?? 0;
        used.total += size;
        if (folderOwner !== owner) continue;
        used.owner += size;
        used.latestMs = Math.max(used.latestMs, uploadedAtMs(file));
      }
    }
    return used;
  }

  private async readRecord(owner: string, id: string): Promise<UploadedFile | undefined> {
    const folder = this.folderOf(owner);
    let file: UploadedFile;
    try {
      file = JSON.parse(await readFile(join(folder, `${id}${RECORD_SUFFIX}`), 'utf8')) as UploadedFile;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        this.logger.warn(`uploaded file ${id} could not be read: ${(error as Error).message}`);
      return undefined;
    }
    if (file.expiresAt !== null && file.expiresAt * 1000 <= this.clock.now()) {
      await this.remove(folder, id);
      return undefined;
    }
    return file;
  }

  private async remove(folder: string, id: string): Promise<void> {
    await rm(join(folder, `${id}${RECORD_SUFFIX}`), { force: true });
    await rm(join(folder, `${id}${BYTES_SUFFIX}`), { force: true });
  }

  private folderOf(owner: string): string {
    if (!OWNER.test(owner)) throw new Error('not an owner digest');
    return join(this.dir, owner);
  }

  /** Runs `work` once the upload under way has ended. */
  private oneAtATime<T>(work: () => Promise<T>): Promise<T> {
    const result = this.writing.then(work, work);
    this.writing = result.catch(() => undefined);
    return result;
  }
}

/** Oldest first, in the order of upload; ties (records without `createdAtMs` of one second) by id. */
function byUploadOrder(a: UploadedFile, b: UploadedFile): number {
  return uploadedAtMs(a) - uploadedAtMs(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function uploadedAtMs(file: UploadedFile): number {
  return file.createdAtMs ?? file.createdAt * 1000;
}

/** The entries of a folder; none when it does not exist (yet). */
async function namesIn(folder: string): Promise<string[]> {
  try {
    return await readdir(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

function newFileId(): string {
  let id = 'file-';
  for (let index = 0; index < ID_LENGTH; index++) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return id;
}
