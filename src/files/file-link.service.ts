import { Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { isIPv6 } from 'node:net';
import { Readable } from 'node:stream';
import type { Request } from 'express';
import { AccountUse, CredentialService } from '../auth/credential.service';
import { ApiError } from '../common/errors/api-error';
import type { KeyValueStore } from '../common/shared-state/key-value.store';
import { SharedState } from '../common/shared-state/shared-state';
import { AppConfig } from '../config/app-config';
import { transportDetail, UpstreamClient, UpstreamIdentity } from '../upstream/upstream.client';
import { ConvertedImageCache } from './converted-image-cache';
import { encodeImage, IMAGE_OUTPUT_MIME_TYPES, type ImageOutput } from './image-format';
import { LinkTokenSeal } from './link-token-seal';
import { isUpstreamFileUrl } from './upstream-file-url';

/** The upstream path that hands out a download URL for a generated file (an image). */
export function generatedFilePath(fileId: string): string {
  return `/backend-api/files/${encodeURIComponent(fileId)}/download`;
}

/** Where a file was made: the account that made it and the upstream it talked to. */
export interface FileSource {
  account: AccountUse;
  identity: UpstreamIdentity;
  baseUrl: string;
}

/** What a link stands for. Never sent to the client: only the link's random id is. */
interface LinkRecord {
  /** The upstream API path that answers `{download_url}` for the file. */
  path: string;
  /** A pool account: its current AccessToken is looked up when the link is opened. */
  poolAccountId?: string;
  /** A client's own token (no pool account to look it up by), sealed by `LinkTokenSeal`: never kept in clear. */
  sealedAccessToken?: string;
  /** A client's own token in clear, as versions before the seal wrote it: still read until those records expire. */
  accessToken?: string;
  chatgptAccountId?: string;
  /** The encoding the answer promised (an image's `output_format`): the file is converted as it is served. */
  output?: ImageOutput;
}

export interface OpenedFile {
  body: Readable;
  headers: IncomingHttpHeaders;
}

export interface FileBytes {
  bytes: Buffer;
  contentType: string;
}

/** Links outlive the upstream's signed URLs (minutes) by far; past a week the upstream may have dropped the file anyway. */
const LINK_TTL_MS = 7 * 24 * 3600_000;
const LINK_ID_BYTES = 24;
const LINK_ID_PATTERN = /^[A-Za-z0-9_-]{32}$/;
const DOWNLOAD_TIMEOUT_MS = 30_000;
const MAX_INLINE_BYTES = 32 * 1024 * 1024;
/** Memory held by converted images kept for links opened again: a few dozen full-size images. */
const CONVERTED_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * Durable links to files the upstream generated (images, sandbox files). The upstream's download URLs are
 * signed and expire within minutes, so answers carry `/files/{id}` instead: `id` is random and maps, in the
 * shared state (bounded, with a TTL), to the upstream file and the account that may read it. Opening the link
 * asks the upstream for a fresh download URL as that account and streams the bytes; the link itself reveals
 * no token.
 */
@Injectable()
export class FileLinkService {
  private readonly logger = new Logger(FileLinkService.name);
  private readonly links: KeyValueStore;
  private readonly converted = new ConvertedImageCache(CONVERTED_CACHE_BYTES);

  constructor(
    private readonly config: AppConfig,
    private readonly upstream: UpstreamClient,
    private readonly credentials: CredentialService,
    shared: SharedState,
    private readonly seal: LinkTokenSeal,
  ) {
    this.links = shared.keyValues('file-link', { durable: true });
  }

  /**
   * Where links point: `FILE_HOST`, else `PUBLIC_URL`, else the host the client called (behind a proxy of
   * `TRUSTED_PROXIES`, the one it forwarded; an HTTP/1.0 client may name none: then the address and port the request
   * came in on, which reached us). `FILE_HOST` takes the scheme
   * of `PUBLIC_URL` when it is set: behind a TLS proxy the request itself looks like plain http, and an https page
   * would block an http image as mixed content.
   */
  originFor(request: Request): string {
    if (this.config.fileHost) {
      const scheme = this.config.publicUrl ? new URL(this.config.publicUrl).protocol.replace(':', '') : request.protocol;
      return `${scheme}://${this.config.fileHost}`;
    }
    if (this.config.publicUrl) return this.config.publicUrl.replace(/\/+$/, '');
    // `request.host`: the Host header, or a trusted proxy's X-Forwarded-Host (as for the scheme), never our internal name.
    return `${request.protocol}://${request.host || listenAddressOf(request)}`;
  }

  /**
   * A durable link to the file behind `path` (an upstream path answering `{download_url}`), or null when the
   * upstream cannot hand it out right now (the file does not exist, or the account may not read it). With `output`,
   * the link serves the image in that encoding.
   */
  async linkFor(source: FileSource, path: string, origin: string, output?: ImageOutput): Promise<string | null> {
    if ((await this.downloadUrl(source.identity, source.baseUrl, path)) === null) return null;
    const id = randomBytes(LINK_ID_BYTES).toString('base64url');
    const { account } = source;
    // The workspace the answer ran in (a Team's, when the request named one), where the file lives.
    const workspace = account.chatgptAccountId ? { chatgptAccountId: account.chatgptAccountId } : {};
    const converted = output ? { output } : {};
    const record: LinkRecord = account.poolAccountId
      ? { path, poolAccountId: account.poolAccountId, ...workspace, ...converted }
      : { path, sealedAccessToken: await this.seal.seal(account.accessToken, id), ...workspace, ...converted };
    await this.links.set(id, JSON.stringify(record), Date.now(), LINK_TTL_MS);
    return `${origin}/files/${id}`;
  }

  /** The file's bytes, read now (for `b64_json`); null when the upstream cannot hand it out. */
  async bytes(source: FileSource, path: string, signal?: AbortSignal): Promise<FileBytes | null> {
    const url = await this.downloadUrl(source.identity, source.baseUrl, path);
    if (!url) return null;
    return readWhole(await this.fetch(url, source.identity, signal), signal);
  }

  /**
   * Opens a link: a fresh download URL from the upstream, as the account that made the file, then its bytes. With
   * `headOnly` (a HEAD request), a converted image is neither downloaded nor converted: its type is known without
   * them, and its length is left out.
   */
  async open(id: string, signal?: AbortSignal, options: { headOnly?: boolean } = {}): Promise<OpenedFile> {
    const record = LINK_ID_PATTERN.test(id) ? await this.links.get(id, Date.now()) : null;
    if (!record) throw ApiError.of('file_not_found', {});
    const link = JSON.parse(record) as LinkRecord;
    const account = await this.accountOf(link, id);
    if (!account) throw ApiError.of('file_unavailable', {});
    const identity = this.upstream.accountIdentity(account);
    const url = await this.downloadUrl(identity, this.upstream.pickBaseUrl(), link.path);
    if (!url) throw ApiError.of('file_gone', {});
    if (link.output && options.headOnly) {
      return { body: Readable.from([]), headers: { 'content-type': IMAGE_OUTPUT_MIME_TYPES[link.output.format] } };
    }
    if (!link.output) return this.fetch(url, identity, signal);
    // A converted image is a new file: none of the stored file's own headers (length, etag, name) describe it.
    // The conversion is kept and shared by every open of the link, so it runs without one client's signal: a client
    // that leaves does not fail the others, and the download's own timeout still bounds it.
    const { output } = link;
    const key = `${id}:${output.format}:${output.compression ?? ''}`;
    const bytes = await this.converted.get(key, async () => encodeImage((await readWhole(await this.fetch(url, identity))).bytes, output));
    const headers = { 'content-type': IMAGE_OUTPUT_MIME_TYPES[output.format], 'content-length': String(bytes.length) };
    return { body: Readable.from([bytes]), headers };
  }

  private async accountOf(link: LinkRecord, id: string): Promise<AccountUse | null> {
    if (link.poolAccountId) {
      const use = await this.credentials.poolAccount(link.poolAccountId);
      return use && link.chatgptAccountId ? { ...use, chatgptAccountId: link.chatgptAccountId } : use;
    }
    const accessToken = link.sealedAccessToken ? await this.seal.open(link.sealedAccessToken, id) : link.accessToken;
    if (!accessToken) return null;
    return this.credentials.accessTokenAccount(accessToken, link.chatgptAccountId);
  }

  /** The upstream's signed URL for the file, or null; only URLs on the upstream's own file hosts count. */
  private async downloadUrl(identity: UpstreamIdentity, baseUrl: string, path: string): Promise<string | null> {
    try {
      const response = await this.upstream.request({ url: `${baseUrl}${path}`, identity, step: 'download' });
      if (response.status !== 200) return null;
      const url = (JSON.parse(response.body.toString('utf8')) as { download_url?: unknown }).download_url;
      if (typeof url !== 'string') return null;
      if (!isUpstreamFileUrl(url, [...this.config.chatgptBaseUrl, this.config.filesBaseUrl])) {
        this.logger.warn(`refused a download URL outside the upstream's file hosts: ${new URL(url, baseUrl).host}`);
        return null;
      }
      return url;
    } catch (error) {
      this.logger.warn(`could not resolve a download URL: ${(error as Error).message}`);
      return null;
    }
  }

  private async fetch(url: string, identity: UpstreamIdentity, signal?: AbortSignal): Promise<OpenedFile> {
    // A signed URL carries its own authorisation: no account headers go to the storage host.
    const response = await this.upstream.stream({
      url,
      headers: { accept: '*/*', 'accept-encoding': 'identity' },
      proxyUrl: identity.fingerprint.proxyUrl ?? null,
      timeoutMs: DOWNLOAD_TIMEOUT_MS,
      signal,
      step: 'download',
    });
    if (response.status !== 200) {
      response.body.destroy();
      throw ApiError.of('file_storage_status', { status: response.status }, { upstream: { step: 'download', status: response.status } });
    }
    return { body: response.body, headers: response.headers };
  }
}

/** `host:port` of the local end of the request's connection (IPv4-mapped IPv6 read as IPv4, IPv6 bracketed). */
function listenAddressOf(request: Request): string {
  const address = (request.socket.localAddress ?? '127.0.0.1').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  return `${isIPv6(address) ? `[${address}]` : address}:${request.socket.localPort}`;
}

/**
 * A downloaded file's whole body, at most `MAX_INLINE_BYTES` (held in memory to inline or convert it). A connection
 * that breaks mid-file is the upstream storage's failure (502), not ours.
 */
async function readWhole(file: OpenedFile, signal?: AbortSignal): Promise<FileBytes> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of file.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_INLINE_BYTES) throw ApiError.of('file_too_large', {});
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    file.body.destroy();
    if (error instanceof ApiError || signal?.aborted) throw error;
    throw ApiError.of('file_storage_broke', { reason: transportDetail(error) }, { upstream: { step: 'download' } });
  }
  return { bytes: Buffer.concat(chunks), contentType: String(file.headers['content-type'] ?? 'application/octet-stream') };
}
