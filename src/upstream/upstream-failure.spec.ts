import { ApiError } from '../common/errors/api-error';
import { toApiError, UpstreamError } from '../common/errors/upstream-error';
import { isCloudflareChallenge, mayBeCloudflareChallenge, transportFailure, upstreamFailure } from './upstream-failure';

const answer = (status: number, body: unknown = {}, headers: Record<string, string> = {}) =>
  upstreamFailure('conversation', status, headers, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));

describe('upstreamFailure: describing an upstream answer', () => {
  it.each([
    [401, {}, 'unauthorized'],
    [403, { detail: { code: 'account_deactivated', message: 'Your account has been deactivated' } }, 'deactivated'],
    [403, { detail: 'Forbidden' }, 'forbidden'],
    [404, {}, 'not_found'],
    [413, {}, 'too_large'],
    [429, {}, 'rate_limited'],
    [422, {}, 'rejected'],
    [500, {}, 'server_error'],
    [503, '<html>cf_chl_opt</html>', 'cf_challenge'],
  ])('status %i (%j) is %s', (status, body, kind) => {
    expect(answer(status, body).kind).toBe(kind);
  });

  it('recognises a challenge by its cf-mitigated header even when the page is not the usual one', () => {
    expect(answer(403, '<html>Just a moment</html>', { 'cf-mitigated': 'challenge' }).kind).toBe('cf_challenge');
    expect(isCloudflareChallenge({ 'cf-mitigated': 'Challenge' }, '')).toBe(true);
    expect(isCloudflareChallenge({}, '{"detail":"Forbidden"}')).toBe(false);
  });

  it('tells from the head alone which answers must be read to know whether they are a challenge', () => {
    expect(mayBeCloudflareChallenge(403, { 'content-type': 'text/html; charset=UTF-8' })).toBe(true);
    expect(mayBeCloudflareChallenge(503, { 'content-type': 'text/html' })).toBe(true);
    expect(mayBeCloudflareChallenge(200, { 'cf-mitigated': 'challenge' })).toBe(true);
    expect(mayBeCloudflareChallenge(403, { 'content-type': 'application/json' })).toBe(false);
    expect(mayBeCloudflareChallenge(200, { 'content-type': 'text/event-stream' })).toBe(false);
  });

  it('takes the reset time from clears_in, else from Retry-After', () => {
    expect(answer(429, { detail: { message: 'limit', clears_in: 41.2 } }, { 'retry-after': '9' }).retryAfter).toBe(42);
    expect(answer(429, {}, { 'retry-after': '9' }).retryAfter).toBe(9);
  });

  it('reads a Retry-After given as an HTTP date, as the seconds left until then', () => {
    const now = Date.parse('Tue, 01 Dec 2026 21:00:00 GMT');
    const limited = (retryAfter: string) => upstreamFailure('conversation', 429, { 'retry-after': retryAfter }, Buffer.from('{}'), now);
    expect(limited('Tue, 01 Dec 2026 21:02:30 GMT').retryAfter).toBe(150);
    expect(limited('Tuesday, 01-Dec-26 21:00:10 GMT').retryAfter).toBe(10);
    expect(limited('Tue, 01 Dec 2026 20:59:00 GMT').retryAfter).toBe(0);
    expect(limited('soon').retryAfter).toBeUndefined();
  });
});

describe('UpstreamError: what a failure means for the account', () => {
  it('disables an account whose own token cannot be sent', () => {
    expect(new UpstreamError({ kind: 'credential_invalid', step: 'requirements' }).accountOutcome).toEqual({
      kind: 'unusable',
      reason: expect.stringContaining('header'),
    });
  });

  it('counts a request Node would not build, and a stalled conversation, as a failure of the account', () => {
    expect(new UpstreamError({ kind: 'request_invalid', step: 'requirements' }).accountOutcome).toMatchObject({ kind: 'failed' });
    expect(new UpstreamError({ kind: 'timeout', step: 'conversation' }).accountOutcome).toMatchObject({ kind: 'failed' });
    expect(new UpstreamError({ kind: 'first_byte_timeout', step: 'conversation', waitedMs: 5 }).accountOutcome).toMatchObject({
      kind: 'failed',
    });
  });

  it('says nothing about the account for failures that are not its own', () => {
    expect(new UpstreamError({ kind: 'timeout', step: 'requirements' }).accountOutcome).toBeNull();
    expect(new UpstreamError({ kind: 'transport', step: 'conversation' }).accountOutcome).toBeNull();
    expect(answer(403, { detail: 'Forbidden' }).accountOutcome).toBeNull();
  });

  it('keeps the upstream verdicts', () => {
    expect(answer(429).accountOutcome).toEqual({ kind: 'rate_limited', retryAfterSec: undefined });
    expect(answer(401).accountOutcome).toEqual({ kind: 'unauthorized' });
    expect(answer(403, { detail: 'This account was banned' }).accountOutcome).toMatchObject({ kind: 'forbidden' });
  });

  it('lets a rotating request move on after any of them, never after a fault of the request itself', () => {
    expect(new UpstreamError({ kind: 'credential_invalid', step: 'requirements' }).retryable).toBe(true);
    expect(new UpstreamError({ kind: 'timeout', step: 'conversation' }).retryable).toBe(true);
    for (const status of [404, 413, 422]) expect(answer(status).retryable).toBe(false);
  });
});

describe('transportFailure', () => {
  it('passes an abort (the client left) on untouched', () => {
    const abort = Object.assign(new Error('aborted'), { name: 'AbortError' });
    expect(transportFailure(abort, 'conversation')).toBe(abort);
  });

  it('describes anything else as the upstream being unreachable', () => {
    expect(transportFailure(new Error('ECONNREFUSED'), 'requirements')).toMatchObject({ kind: 'transport', step: 'requirements' });
  });
});

describe('toApiError: what the client is told', () => {
  const client = (error: UpstreamError) => {
    const apiError = toApiError(error);
    expect(apiError).toBeInstanceOf(ApiError);
    return { status: apiError.getStatus(), ...apiError.body.error, retryAfter: apiError.details.retryAfter };
  };

  it.each([
    [
      answer(401, { detail: 'expired' }),
      401,
      'invalid_request_error',
      'invalid_api_key',
      'The upstream rejected the access token (expired or revoked): expired',
    ],
    [
      answer(403, { detail: { code: 'account_deactivated' } }),
      403,
      'upstream_error',
      'account_deactivated',
      'The upstream refused the request (conversation)',
    ],
    [answer(403, { detail: 'no' }), 403, 'upstream_error', 'upstream_forbidden', 'The upstream refused the request (conversation): no'],
    [answer(404), 404, 'invalid_request_error', 'not_found', 'The upstream has no such resource (conversation)'],
    [answer(422), 400, 'invalid_request_error', 'upstream_rejected', 'The upstream rejected the request (conversation, status 422)'],
    [answer(500, 'oops'), 502, 'upstream_error', 'upstream_status', 'The upstream failed (conversation, status 500)'],
    [
      answer(429, { detail: 'slow down' }),
      429,
      'rate_limit_error',
      'rate_limit_exceeded',
      'The upstream rate limit was reached: slow down',
    ],
    [
      new UpstreamError({ kind: 'timeout', step: 'requirements' }),
      504,
      'upstream_error',
      'upstream_timeout',
      'The upstream did not answer in time (requirements).',
    ],
    [
      new UpstreamError({ kind: 'first_byte_timeout', step: 'conversation', waitedMs: 900 }),
      504,
      'upstream_error',
      'upstream_timeout',
      'The upstream did not start answering within 900 ms (conversation).',
    ],
    [
      new UpstreamError({ kind: 'refused_answer', step: 'conversation', said: 'unusual activity' }),
      403,
      'upstream_error',
      'upstream_forbidden',
      'The upstream refused to answer: unusual activity',
    ],
    [
      new UpstreamError({ kind: 'pow_too_hard', step: 'proof_of_work', difficulty: '0001', limit: '00003a' }),
      403,
      'upstream_error',
      'pow_failed',
      'Proof of work difficulty too high (0001, limit 00003a).',
    ],
    [
      new UpstreamError({ kind: 'answer_error', step: 'conversation', code: 'upstream_stream_cut', said: 'cut' }),
      502,
      'upstream_error',
      'upstream_stream_cut',
      'cut',
    ],
  ])('%#: %s', (error, status, type, code, message) => {
    expect(client(error)).toMatchObject({ status, type, code, message });
    // The error's own message is the client's, so logs and the pool read what the client reads.
    expect(error.message).toBe(message);
  });

  it('maps an upstream 413 (conversation too long) to 400 context_length_exceeded on `messages`', () => {
    expect(client(answer(413, { detail: 'too long' }))).toMatchObject({ status: 400, code: 'context_length_exceeded', param: 'messages' });
  });

  it('maps an upstream 413 while uploading a file to 413 request_too_large about the file, not a conversation too long', () => {
    const refused = upstreamFailure('files', 413, {}, Buffer.from('<Error><Code>RequestBodyTooLarge</Code></Error>'));
    expect(refused.retryable).toBe(false);
    const error = client(refused);
    expect(error).toMatchObject({ status: 413, type: 'invalid_request_error', code: 'request_too_large', param: null });
    expect(error.message).toMatch(/^The upstream refused an uploaded file as too large/);
  });

  it('sends the reset time as Retry-After', () => {
    expect(client(answer(429, { detail: { clears_in: 42 } })).retryAfter).toBe(42);
  });
});
