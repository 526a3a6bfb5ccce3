import { ApiError } from '../common/errors/api-error';
import { isRetryable, outcomeOf } from './upstream-failure';

const upstreamError = (status: number, code: string, step: 'conversation' | 'requirements', upstreamStatus?: number) =>
  new ApiError(status, 'upstream_error', code, 'failed', { upstream: { step, status: upstreamStatus } });

describe('outcomeOf', () => {
  it('disables an account whose own token cannot be sent', () => {
    expect(outcomeOf(upstreamError(502, 'upstream_credential_invalid', 'requirements'))).toEqual({ kind: 'unusable', reason: expect.stringContaining('header') });
  });

  it('counts a request Node would not build, and a stalled conversation, as a failure of the account', () => {
    expect(outcomeOf(upstreamError(502, 'upstream_request_invalid', 'requirements'))).toMatchObject({ kind: 'failed' });
    expect(outcomeOf(upstreamError(504, 'upstream_timeout', 'conversation'))).toMatchObject({ kind: 'failed' });
  });

  it('says nothing about the account for failures that are not its own', () => {
    expect(outcomeOf(upstreamError(504, 'upstream_timeout', 'requirements'))).toBeNull();
    expect(outcomeOf(upstreamError(502, 'upstream_unreachable', 'conversation'))).toBeNull();
    expect(outcomeOf(ApiError.invalidRequest('bad'))).toBeNull();
  });

  it('keeps the upstream verdicts', () => {
    expect(outcomeOf(upstreamError(429, 'rate_limit_exceeded', 'conversation', 429))).toEqual({ kind: 'rate_limited', retryAfterSec: undefined });
    expect(outcomeOf(upstreamError(401, 'invalid_api_key', 'conversation', 401))).toEqual({ kind: 'unauthorized' });
  });

  it('lets a rotating request move on after any of them', () => {
    expect(isRetryable(upstreamError(502, 'upstream_credential_invalid', 'requirements'))).toBe(true);
    expect(isRetryable(upstreamError(504, 'upstream_timeout', 'conversation'))).toBe(true);
  });
});
