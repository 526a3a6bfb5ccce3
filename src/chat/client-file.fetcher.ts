import { Injectable, Logger } from '@nestjs/common';
import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import { AppConfig } from '../config/app-config';
import { ApiError } from '../common/errors/api-error';
import { transportDetail, UpstreamClient, type UpstreamStream } from '../upstream/upstream.client';
import type { AttachmentPart } from './dto/chat-completion.dto';
import { assertPublicUrl, HostLookup, isPrivateAddress, systemLookup } from './file-url-guard';

const FETCH_TIMEOUT_MS = 60_000;

/** The bytes of one image or file a client sent or pointed at. */
export interface FileBytes {
  bytes: Buffer;
  mimeType: string;
  name?: string;
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

  /** The bytes of a validated part; `path` names it in errors (`messages[0].content[1]`). */
  async read(part: AttachmentPart, path: string, signal: AbortSignal): Promise<FileBytes> {
    if (part.type === 'image_url') {
      const { url } = part.image_url;
      return url.startsWith('data:') ? decodeDataUrl(url, `${path}.image_url.url`) : this.fetch(url, `${path}.image_url.url`, signal);
    }
    const decoded = decodeDataUrl(part.file.file_data, `${path}.file.file_data`);
    return { ...decoded, name: part.file.filename !== undefined ? sanitizeName(part.file.filename) : undefined };
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
