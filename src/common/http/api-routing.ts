import type { NextFunction, Request, Response } from 'express';
import { ApiError } from '../errors/api-error';
import { secretsEqual } from '../util/secrets';
import { couldBeApiPrefix, type PrefixGuessThrottle } from './prefix-guess.throttle';

const CORS_HEADERS = [
  'authorization',
  'content-type',
  'auth_key',
  'authkey',
  'x-authorization',
  'chatgpt-account-id',
  'openai-organization',
  'openai-project',
  'x-stainless-arch',
  'x-stainless-lang',
  'x-stainless-os',
  'x-stainless-package-version',
  'x-stainless-runtime',
  'x-stainless-runtime-version',
  'x-stainless-retry-count',
  'x-stainless-timeout',
  'x-stainless-helper-method',
  'x-stainless-poll-helper',
  'x-stainless-custom-poll-interval',
  'openai-beta',
  'idempotency-key',
];
/** The SDKs add `x-stainless-*` headers as they grow (a helper method, a polling hint): any the preflight names is allowed. */
const SDK_HEADER = /^x-stainless-[a-z0-9-]{1,64}$/;
const MAX_EXTRA_SDK_HEADERS = 16;

/** The headers a preflight may send: ours, and the SDK headers among those it asks for. */
function allowedHeaders(requested: string | undefined): string {
  const extra = (requested ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => SDK_HEADER.test(name) && !CORS_HEADERS.includes(name))
    .slice(0, MAX_EXTRA_SDK_HEADERS);
  return [...CORS_HEADERS, ...extra].join(', ');
}
const API_PATH = /^\/v1(?:[/?]|$)/;

/**
 * With `API_PREFIX`, the API lives at `/{prefix}/v1/...` instead of `/v1/...` (openai-api.md §1): the
 * prefixed path is rewritten for the router and the bare one answers 404.
 */
export function apiPrefixRouting(prefix: string | undefined, guesses: PrefixGuessThrottle) {
  return async (request: Request, response: Response, next: NextFunction): Promise<void> => {
    if (!prefix) return next();
    const match = /^\/([^/?]+)(\/v1(?:[/?].*)?)$/.exec(request.url);
    // Our own routes (the gateway's /ces/v1/…, /ab/v1/…) cannot be the prefix, and are no guesses of it.
    if (match && couldBeApiPrefix(match[1])) {
      const address = request.ip ?? request.socket.remoteAddress ?? '';
      try {
        const verdict = await guesses.judge(address, 'api', secretsEqual(match[1], prefix));
        if (verdict.outcome === 'admitted') {
          request.url = match[2];
          return next();
        }
        if (verdict.outcome === 'locked') {
          const error = ApiError.of('path_prefix_throttled', {}, { retryAfter: verdict.retryAfterSec });
          response.setHeader('Retry-After', String(error.details.retryAfter));
          response.status(429).json(error.body);
          return;
        }
      } catch (error) {
        // Not the store: while Redis does not answer, guesses are counted in this process (`PrefixGuessThrottle`).
        return next(error);
      }
    }
    if (API_PATH.test(request.url)) {
      response.status(404).json(ApiError.unknownUrl(request).body);
      return;
    }
    next();
  };
}

/** Browser clients call the API cross-origin: any origin, no credentials (openai-api.md §1, "Ours"). */
export function apiCors(request: Request, response: Response, next: NextFunction): void {
  if (!API_PATH.test(request.url)) return next();
  response.setHeader('Access-Control-Allow-Origin', '*');
  response.setHeader('Access-Control-Expose-Headers', 'retry-after');
  if (request.method === 'OPTIONS') {
    response.setHeader('Access-Control-Allow-Methods', 'GET, POST, DELETE, OPTIONS');
    response.setHeader('Access-Control-Allow-Headers', allowedHeaders(request.headers['access-control-request-headers']));
    response.setHeader('Access-Control-Max-Age', '86400');
    response.status(204).end();
    return;
  }
  next();
}

/**
 * The API routes that also take multipart/form-data, as OpenAI's do: an image edit (or JSON) and a file upload (only a
 * form), with or without the trailing slash the router also serves them at.
 */
const MULTIPART_API_PATH = /^\/v1\/images\/edits\/?(?:\?|$)/;
const UPLOAD_PATH = /^\/v1\/files\/?(?:\?|$)/;

/**
 * API bodies are JSON (and multipart/form-data on the upload routes): another content type would otherwise be
 * silently ignored and reported as missing fields.
 */
export function apiJsonBodies(request: Request, response: Response, next: NextFunction): void {
  const hasBody = Number(request.headers['content-length'] ?? 0) > 0 || request.headers['transfer-encoding'] !== undefined;
  if (request.method !== 'POST' || !API_PATH.test(request.url) || !hasBody || request.is(['application/json', 'application/*+json']))
    return next();
  const form = request.is('multipart/form-data');
  if (form && (MULTIPART_API_PATH.test(request.url) || UPLOAD_PATH.test(request.url))) return next();
  const code = MULTIPART_API_PATH.test(request.url)
    ? 'unsupported_media_type_or_form'
    : UPLOAD_PATH.test(request.url)
      ? 'unsupported_media_type_not_form'
      : 'unsupported_media_type';
  const error = ApiError.of(code, {});
  response.status(415).json(error.body);
}
