import { Injectable, Logger } from '@nestjs/common';
import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import { AppConfig } from '../config/app-config';
import { ApiError } from '../common/errors/api-error';
import { transportDetail, UpstreamClient } from '../upstream/upstream.client';
import type { AttachmentPart } from './dto/chat-completion.dto';
import { assertPublicUrl, HostLookup, isPrivateAddress, systemLookup } from './file-url-guard';

const FETCH_TIMEOUT_MS = 60_000;

/** The bytes of one image or file a client sent or pointed at. */
export interface FileBytes {
  bytes: Buffer;
  mimeType: string;
  name?: string;
}

/** A client's file URL that passed the checks, fetched only when its bytes are needed. */
export interface FileUrl {
  url: URL;
  /** As the client wrote it (what an external fetcher is handed). */
  raw: string;
  /** The request field that holds it, for errors. */
  param: string;
  /** The name the client gave the file, when it gave one. */
  name?: string;
}

/** The bytes all attachments of one request may take (`MAX_ATTACHMENTS_SIZE`), inline and fetched together. */
export class AttachmentBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  /** Counts `bytes` more; past the limit the request is refused, naming the part (`param`) that went over it. */
  take(bytes: number, param: string): void {
    this.used += bytes;
    if (this.used > this.limit) throw ApiError.of('attachments_too_large', { limit: this.limit, param }, { param });
  }
}

/**
 * Reads the bytes of a client's image or file part (upstream-protocol.md §9): decodes `data:` URLs and
 * fetches public http(s) URLs, never private addresses unless `ALLOW_PRIVATE_FILE_URLS` (the SSRF guard:
 * the name is resolved and checked before the fetch, redirects are not followed, and the address is checked
 * again at connect time).
 */
@Injectable()
export class ClientFileFetcher {
  private readonly logger = new Logger(ClientFileFetcher.name);
  /** How client URL host names are resolved for the private-address check (replaceable in tests). */
  hostLookup: HostLookup = systemLookup;

  constructor(
    private readonly config: AppConfig,
    private readonly upstream: UpstreamClient,
  ) {}

  /**
   * The bytes of a validated part sent inline (a `data:` URL), or the checked URL of one that points at its file.
   * `param` names the part's URL or data field in errors (`messages[0].content[1].image_url.url`).
   */
  async open(part: AttachmentPart, param: string): Promise<FileBytes | FileUrl> {
    if (part.type === 'file') {
      const decoded = decodeDataUrl(part.file.file_data ?? '', param);
      return { ...decoded, name: clientName(part.file.filename) };
    }
    const { url, filename } = part.image_url;
    const name = clientName(filename);
    if (url.startsWith('data:')) return { ...decodeDataUrl(url, param), name };
    return { url: await this.check(url, param), raw: url, param, name };
  }

  /** Fetches a checked URL; its bytes count against `budget` as they arrive, and the fetch stops as soon as it is spent. */
  async fetch(file: FileUrl, budget: AttachmentBudget, signal: AbortSignal): Promise<FileBytes> {
    const { url, raw, param } = file;
    const { allowPrivateFileUrls, exportProxyUrl, cfFileUrl } = this.config;
    const checkAddresses = !allowPrivateFileUrls;
    const fetchedHere = !exportProxyUrl && !cfFileUrl;
    try {
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
      if (fetched.status !== 200) {
        fetched.body.destroy();
        throw new Error(unfetchedStatus(fetched.status, fetched.headers.location, url));
      }
      const bytes = await readBody(fetched.body, this.config.maxBodyBytes, (size) => budget.take(size, param));
      const mimeType = (fetched.headers['content-type'] ?? 'application/octet-stream').split(';')[0].trim().toLowerCase();
      return { bytes, mimeType, name: file.name ?? (sanitizeName(lastSegment(url)) || undefined) };
    } catch (error) {
      if (signal.aborted || error instanceof ApiError) throw error;
      throw this.unfetchable(url, param, error);
    }
  }

  /** A URL that may be fetched: http(s), and unless `ALLOW_PRIVATE_FILE_URLS` leading to public addresses only. */
  private async check(raw: string, param: string): Promise<URL> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw ApiError.of('invalid_value', { param, problem: 'not a URL' }, { param });
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw ApiError.of('invalid_value', { param, problem: 'only http(s) and data: URLs are supported' }, { param });
    }
    if (this.config.allowPrivateFileUrls) return url;
    try {
      // Resolved here even when a proxy or an external fetcher fetches it, so a name leading inside is refused before it is handed on.
      await assertPublicUrl(url, this.hostLookup);
    } catch (error) {
      throw this.unfetchable(url, param, error);
    }
    return url;
  }

  private unfetchable(url: URL, param: string, error: unknown): ApiError {
    const reason = transportDetail(error);
    this.logger.warn(`could not fetch a file from ${url.host}: ${reason}`);
    return ApiError.of('invalid_image_url', { param, reason }, { param });
  }
}

export function decodeDataUrl(url: string, param: string): FileBytes {
  // RFC 2397's `;base64` is case-insensitive (`;BASE64,` is what some encoders write), like the media type.
  const match = /^data:([\w.+-]+\/[\w.+-]+)?((?:;[\w-]+=[^;,]*)*);base64,(.*)$/is.exec(url);
  const invalid = () => ApiError.of('invalid_base64', { param }, { param });
  if (!match) throw invalid();
  const data = match[3].replace(/\s+/g, '');
  if (!data || !/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 === 1) throw invalid();
  const bytes = Buffer.from(data, 'base64');
  if (bytes.length === 0) throw invalid();
  return { bytes, mimeType: (match[1] ?? 'application/octet-stream').toLowerCase() };
}

/** Why an answer other than 200 gives no file; a redirect (only ever seen here when redirects are not followed) says where it led. */
function unfetchedStatus(status: number, location: string | undefined, url: URL): string {
  if (status < 300 || status >= 400 || !location) return `status ${status}`;
  let target: string;
  try {
    target = new URL(location, url).toString();
  } catch {
    return `status ${status}`;
  }
  const shown = target.length > 200 ? `${target.slice(0, 200)}…` : target;
  return `it redirects (status ${status}) to ${shown}, and redirects are not followed; send the final URL`;
}

/** The name a client gave its file, made safe; an empty, blank or null one (which the request may send) is none given. */
export function clientName(filename: string | null | undefined): string | undefined {
  return typeof filename === 'string' && filename.trim() ? sanitizeName(filename) : undefined;
}

/** A file name as the upstream and the model see it: letters and digits of any script, `.`, `-`, `_` and spaces; 120 characters at most. */
function sanitizeName(name: string): string {
  return Array.from(name.replace(/[^\p{L}\p{M}\p{N}_.\- ]+/gu, '_'))
    .slice(0, 120)
    .join('');
}

/** The last segment of a URL's path, decoded (`Quarterly%20Report.pdf` is `Quarterly Report.pdf`). */
function lastSegment(url: URL): string {
  const segment = url.pathname.split('/').pop() ?? '';
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Connects only to public addresses: the check at connect time, for names whose DNS answer changed since `assertPublicUrl`. */
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

/** The whole body, at most `limit` bytes; `count` sees every chunk's size first and may throw to stop the read. */
async function readBody(body: Readable, limit: number, count: (size: number) => void): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > limit) throw new Error(`larger than ${limit} bytes`);
      count((chunk as Buffer).length);
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    body.destroy();
    throw error;
  }
  return Buffer.concat(chunks);
}
