import type { IncomingHttpHeaders } from 'node:http';
import type { UpstreamStep } from '../common/errors/api-error';
import { UpstreamError, UpstreamErrorKind } from '../common/errors/upstream-error';

const CLOUDFLARE_MARKER = 'cf_chl_opt';

/**
 * Node's errors for a request it refuses to build: a header name or value with characters HTTP does not
 * allow (a credential with a control or non-ASCII character), a path with such characters. Never the
 * upstream's doing, and the same every time for the same credential.
 */
const REQUEST_CONSTRUCTION_CODES = new Set([
  'ERR_INVALID_CHAR',
  'ERR_INVALID_HTTP_TOKEN',
  'ERR_HTTP_INVALID_HEADER_VALUE',
  'ERR_UNESCAPED_CHARACTERS',
]);
const MAX_DETAIL_LENGTH = 300;
/**
 * Detail codes by which the upstream says the calling account itself is out of service. Unlike free text ("suspended",
 * "deactivated"), which may be about whatever the call touched, a code is about the caller's account on any call.
 */
const ACCOUNT_OUT_CODES = new Set(['account_deactivated', 'account_suspended', 'account_banned']);

/**
 * Describes an upstream non-success answer (status, headers, body) as an `UpstreamError`: the one place that
 * reads an upstream refusal. What the client is told is `toApiError` (openai-api.md §10). `now` (epoch ms) dates a
 * `Retry-After` given as a date.
 */
export function upstreamFailure(
  step: UpstreamStep,
  status: number,
  headers: IncomingHttpHeaders,
  body: Buffer,
  now: number = Date.now(),
): UpstreamError {
  const text = body.toString('utf8');
  if (isCloudflareChallenge(headers, text)) return new UpstreamError({ kind: 'cf_challenge', step, status });
  const detail = readDetail(text);
  const said = detail.message || undefined;
  return new UpstreamError({
    kind: kindOf(status, detail),
    step,
    status,
    said,
    retryAfter: status === 429 ? (detail.clearsIn ?? retryAfterHeader(headers, now)) : undefined,
  });
}

/** Whether an answer's detail code says the calling account itself is out of service (`account_deactivated`). */
export function namesAccountOut(body: Buffer): boolean {
  const { code } = readDetail(body.toString('utf8'));
  return code !== undefined && ACCOUNT_OUT_CODES.has(code);
}

/** A Cloudflare challenge instead of an answer: its `cf-mitigated` header, or its page's `_cf_chl_opt` script. */
export function isCloudflareChallenge(headers: IncomingHttpHeaders, body: Buffer | string): boolean {
  return String(headers['cf-mitigated'] ?? '').toLowerCase() === 'challenge' || body.includes(CLOUDFLARE_MARKER);
}

/** Whether an answer's head could be a challenge, before its body is read (a challenge is an HTML 403 or 503). */
export function mayBeCloudflareChallenge(status: number, headers: IncomingHttpHeaders): boolean {
  if (String(headers['cf-mitigated'] ?? '').toLowerCase() === 'challenge') return true;
  return (status === 403 || status === 503) && /text\/html/i.test(String(headers['content-type'] ?? ''));
}

/**
 * Describes a request that got no upstream answer: Node would not build it, it timed out, or the host could not
 * be reached. An abort (the client left) is passed on as it is.
 */
export function transportFailure(error: unknown, step: UpstreamStep): Error {
  if (error instanceof UpstreamError || (error instanceof Error && error.name === 'AbortError')) return error;
  const code = errorCode(error);
  if (code && REQUEST_CONSTRUCTION_CODES.has(code)) return new UpstreamError({ kind: 'request_invalid', step });
  if (code === 'ETIMEDOUT') return new UpstreamError({ kind: 'timeout', step });
  return new UpstreamError({ kind: 'transport', step });
}

/** The `code` of a transport error: Node's own (`ECONNREFUSED`, `ERR_INVALID_CHAR`), or the same code as got reports it. */
export function errorCode(error: unknown): string | undefined {
  const code = error instanceof Error ? (error as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

function kindOf(status: number, detail: Detail): UpstreamErrorKind {
  if (status === 401) return 'unauthorized';
  if (status === 403)
    return /deactivated|banned|suspended/i.test(`${detail.code ?? ''} ${detail.message ?? ''}`) ? 'deactivated' : 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 413) return 'too_large';
  if (status === 429) return 'rate_limited';
  if (status >= 400 && status < 500) return 'rejected';
  return 'server_error';
}

interface Detail {
  message?: string;
  code?: string;
  clearsIn?: number;
}

function readDetail(text: string): Detail {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return {};
  }
  const root = parsed as { detail?: unknown; error?: unknown; message?: unknown };
  const detail = root?.detail ?? root?.error ?? root?.message;
  if (typeof detail === 'string') return { message: shorten(detail) };
  if (detail && typeof detail === 'object') {
    const fields = detail as { message?: unknown; code?: unknown; clears_in?: unknown };
    return {
      message: typeof fields.message === 'string' ? shorten(fields.message) : undefined,
      code: typeof fields.code === 'string' ? fields.code : undefined,
      clearsIn: typeof fields.clears_in === 'number' && fields.clears_in >= 0 ? Math.ceil(fields.clears_in) : undefined,
    };
  }
  return {};
}

/** `Retry-After` in seconds from `now`: given as seconds, or as an HTTP date (RFC 9110 §10.2.3). */
function retryAfterHeader(headers: IncomingHttpHeaders, now: number): number | undefined {
  const value = headers['retry-after']?.trim();
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds >= 0 ? Math.ceil(seconds) : undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

function shorten(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_DETAIL_LENGTH ? `${oneLine.slice(0, MAX_DETAIL_LENGTH)}…` : oneLine;
}
