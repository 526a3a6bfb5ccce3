import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';
import { maskSecret } from '../common/util/secrets';
import { Clock } from '../common/vocabulary/clock';
import { isCloudflareChallenge } from '../upstream/upstream-failure';
import { transportDetail, UpstreamClient } from '../upstream/upstream.client';
import { AuthServerUnavailableError, DEFAULT_LIFETIME_MS } from './refresh-token.exchanger';
import { CredentialExchanger } from './credential.exchanger';
import { ACCOUNT_STORE, type AccountStore } from './stores/account-store';
import { readAccessTokenClaims } from './token-kind';

/** chatgpt.com's next-auth session cookie; its value is the SessionToken (gateway-live-ui.md §1). */
export const SESSION_COOKIE_NAME = '__Secure-next-auth.session-token';

export interface ExchangedSession {
  accessToken: string;
  /** Milliseconds since the epoch: the JWT's `exp`, else an hour from now. */
  expiresAt: number;
  /**
   * The newest cookie value known for the SessionToken that was presented, when the upstream has rotated it
   * (now or in an earlier exchange). A pool account stores it in place of the old one.
   */
  sessionToken?: string;
}

/** The session endpoint does not know the SessionToken (any more): signed out, expired or revoked. */
export class SessionTokenRejectedError extends Error {
  constructor(readonly status: number) {
    super(`session token rejected: signed out or expired (HTTP ${status})`);
    this.name = 'SessionTokenRejectedError';
  }
}

/**
 * SessionToken → AccessToken: `GET {CHATGPT_BASE_URL}/api/auth/session` with the `__Secure-next-auth.session-token`
 * cookie, as the account (its fingerprint's user agent and proxy). next-auth answers `{user, expires, accessToken, …}`
 * for a live session and `{}` for none. Like the RefreshToken exchange, results are cached until shortly before the
 * AccessToken expires, and concurrent exchanges of one session share one request.
 *
 * next-auth may set a new cookie value on the answer (sliding expiry). The newest value is remembered for every
 * value that led to it, and later exchanges send the newest: a client that keeps using an older value as its API
 * key keeps working, across restarts too: the newest value of each presented one is kept in the pool's store. The
 * pool also stores the newest value in the account record.
 */
@Injectable()
export class SessionTokenExchanger extends CredentialExchanger<ExchangedSession> {
  constructor(
    clock: Clock,
    private readonly upstream: UpstreamClient,
    /** Where rotations outlive this process (files or Redis); without one they are kept in memory only. */
    @Optional() @Inject(ACCOUNT_STORE) store?: AccountStore,
  ) {
    super('session-token', new Logger(SessionTokenExchanger.name), clock, store);
  }

  /**
   * @param options.fingerprintKey names the account whose fingerprint and proxy the call uses (the pool account id;
   *   the SessionToken itself when it is an API key).
   * @param options.force skip the cache (the cached AccessToken was refused upstream).
   * @throws SessionTokenRejectedError, AuthServerUnavailableError
   */
  async exchange(sessionToken: string, options: { fingerprintKey?: string; force?: boolean } = {}): Promise<ExchangedSession> {
    const cookie = await this.rotations.newest(sessionToken);
    const result = await this.exchanges.get(cookie, options.force ?? false, () =>
      this.request(cookie, options.fingerprintKey ?? sessionToken),
    );
    const newest = await this.rotations.keep(sessionToken);
    return newest !== sessionToken ? { ...result, sessionToken: newest } : result;
  }

  private async request(cookie: string, fingerprintKey: string): Promise<ExchangedSession> {
    const masked = maskSecret(cookie);
    let status: number;
    let headers: IncomingHttpHeaders;
    let body: string;
    try {
      const response = await this.upstream.request({
        method: 'GET',
        url: `${this.upstream.pickBaseUrl().replace(/\/+$/, '')}/api/auth/session`,
        identity: { fingerprint: this.upstream.fingerprint(fingerprintKey) },
        headers: { accept: 'application/json', cookie: `${SESSION_COOKIE_NAME}=${cookie}` },
        timeoutMs: 15_000,
        step: 'refresh',
      });
      status = response.status;
      headers = response.headers;
      body = response.body.toString('utf8');
    } catch (error) {
      const reason = transportDetail(error);
      this.logger.warn(`Session exchange of ${masked} failed: upstream unreachable (${reason})`);
      throw new AuthServerUnavailableError(`session endpoint unreachable: ${reason}`);
    }
    if (isCloudflareChallenge(headers, body)) {
      this.logger.warn(`Session exchange of ${masked} failed: Cloudflare challenge (HTTP ${status})`);
      throw new AuthServerUnavailableError(`session endpoint answered a Cloudflare challenge (HTTP ${status})`, status);
    }
    const answer = status >= 200 && status < 300 ? parseSession(body) : undefined;
    if (status === 401 || answer === null) {
      this.exchanges.forget(cookie);
      this.logger.warn(`Session exchange of ${masked} rejected: no session (HTTP ${status})`);
      throw new SessionTokenRejectedError(status);
    }
    if (!answer) {
      this.logger.warn(`Session exchange of ${masked} failed: HTTP ${status}${status < 300 ? ' with an unreadable body' : ''}`);
      throw new AuthServerUnavailableError(`session endpoint answered HTTP ${status}`, status);
    }
    const expiresAt = readAccessTokenClaims(answer.accessToken).expiresAt ?? this.clock.now() + DEFAULT_LIFETIME_MS;
    const result: ExchangedSession = { accessToken: answer.accessToken, expiresAt };
    const rotated = sessionCookieFrom(headers['set-cookie']);
    this.exchanges.remember(cookie, result);
    if (rotated && rotated !== cookie) {
      this.rotations.link(cookie, rotated);
      this.exchanges.remember(rotated, result);
    }
    this.logger.log(
      `Session ${masked}: access token ${maskSecret(result.accessToken)} until ${new Date(expiresAt).toISOString()}${rotated && rotated !== cookie ? `, cookie rotated to ${maskSecret(rotated)}` : ''}`,
    );
    return result;
  }
}

/**
 * The session's AccessToken; null for next-auth's "no session" (`{}`, or a session without a token);
 * undefined for a body that is not a JSON object.
 */
function parseSession(body: string): { accessToken: string } | null | undefined {
  let answer: unknown;
  try {
    answer = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) return undefined;
  const accessToken = (answer as Record<string, unknown>).accessToken;
  return typeof accessToken === 'string' && accessToken ? { accessToken } : null;
}

/**
 * The new session cookie value among `Set-Cookie` headers, if any. next-auth splits a cookie over 4 KB into
 * `name.0`, `name.1`, …; the chunks are joined in order. A cleared cookie (empty value) is not a rotation.
 */
export function sessionCookieFrom(setCookie: string[] | undefined): string | undefined {
  let whole: string | undefined;
  const chunks: [number, string][] = [];
  for (const line of setCookie ?? []) {
    const pair = line.split(';', 1)[0];
    const equals = pair.indexOf('=');
    if (equals < 0) continue;
    const name = pair.slice(0, equals).trim();
    const value = pair.slice(equals + 1).trim();
    if (name === SESSION_COOKIE_NAME) whole = value;
    else if (name.startsWith(`${SESSION_COOKIE_NAME}.`) && /^\d+$/.test(name.slice(SESSION_COOKIE_NAME.length + 1))) {
      chunks.push([Number(name.slice(SESSION_COOKIE_NAME.length + 1)), value]);
    }
  }
  const value =
    whole ??
    (chunks.length > 0
      ? chunks
          .sort((a, b) => a[0] - b[0])
          .map(([, chunk]) => chunk)
          .join('')
      : undefined);
  return value ? value : undefined;
}
