import type { IncomingHttpHeaders } from 'node:http';
import { ApiError, UpstreamStep } from '../common/errors/api-error';
import type { AccountOutcome } from '../common/vocabulary/account-outcome';

const CLOUDFLARE_MARKER = 'cf_chl_opt';
const MAX_DETAIL_LENGTH = 300;

/** What an upstream error answer means for the account that made the call, if anything. */
export function outcomeOf(error: unknown): AccountOutcome | null {
  if (!(error instanceof ApiError) || !error.details.upstream) return null;
  // The account's credential holds characters HTTP refuses: no request made with it can ever be sent.
  if (error.code === 'upstream_credential_invalid') return { kind: 'unusable', reason: 'access token cannot be sent in an HTTP header' };
  // Failed on this account without an upstream verdict: a request Node would not build, or a conversation that stalled.
  if (error.code === 'upstream_request_invalid' || (error.code === 'upstream_timeout' && error.details.upstream.step === 'conversation')) {
    return { kind: 'failed', reason: error.message };
  }
  const status = error.details.upstream.status;
  if (status === 429) return { kind: 'rate_limited', retryAfterSec: error.details.retryAfter };
  if (status === 401) return { kind: 'unauthorized' };
  if (status === 403 && error.code === 'account_deactivated') return { kind: 'forbidden', reason: error.message };
  return null;
}

/** Whether another attempt (maybe on another account) could succeed where this one failed. */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof ApiError)) return false;
  const status = error.getStatus();
  return status === 401 || status === 403 || status === 429 || status >= 500;
}

/** Turns an upstream non-success answer into the client-facing error of openai-api.md §10. */
export function upstreamFailure(step: UpstreamStep, status: number, headers: IncomingHttpHeaders, body: Buffer): ApiError {
  const text = body.toString('utf8');
  const upstream = { step, status };
  if (text.includes(CLOUDFLARE_MARKER)) {
    return new ApiError(403, 'upstream_error', 'cf_challenge', `The upstream answered with a Cloudflare challenge (${step}); route requests through PROXY_URL or a browser-grade CHATGPT_BASE_URL.`, {
      upstream,
    });
  }
  const detail = readDetail(text);
  const said = detail.message ? `: ${detail.message}` : '';
  switch (true) {
    case status === 401:
      return new ApiError(401, 'invalid_request_error', 'invalid_api_key', `The upstream rejected the access token (expired or revoked)${said}`, {
        upstream,
      });
    case status === 403: {
      const deactivated = /deactivated|banned|suspended/i.test(`${detail.code ?? ''} ${detail.message ?? ''}`);
      return new ApiError(403, 'upstream_error', deactivated ? 'account_deactivated' : 'upstream_forbidden', `The upstream refused the request (${step})${said}`, {
        upstream,
      });
    }
    case status === 404:
      return new ApiError(404, 'invalid_request_error', 'not_found', `The upstream has no such resource (${step})${said}`, { upstream });
    case status === 413:
      return new ApiError(413, 'invalid_request_error', 'request_too_large', `The upstream refused the request as too large${said}`, { upstream });
    case status === 429: {
      const retryAfter = detail.clearsIn ?? retryAfterHeader(headers);
      return new ApiError(429, 'rate_limit_error', 'rate_limit_exceeded', `The upstream rate limit was reached${said}`, { upstream, retryAfter });
    }
    case status >= 400 && status < 500:
      return new ApiError(400, 'invalid_request_error', 'upstream_rejected', `The upstream rejected the request (${step}, status ${status})${said}`, {
        upstream,
      });
    default:
      return new ApiError(502, 'upstream_error', 'upstream_status', `The upstream failed (${step}, status ${status})${said}`, { upstream });
  }
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

function retryAfterHeader(headers: IncomingHttpHeaders): number | undefined {
  const value = Number(headers['retry-after']);
  return Number.isFinite(value) && value >= 0 ? Math.ceil(value) : undefined;
}

function shorten(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_DETAIL_LENGTH ? `${oneLine.slice(0, MAX_DETAIL_LENGTH)}…` : oneLine;
}
