import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { maskSecret } from '../common/util/secrets';
import { AppConfig } from '../config/app-config';
import { transportDetail, UpstreamClient } from '../upstream/upstream.client';
import { Clock } from '../common/vocabulary/clock';
import { StoreUnavailableError } from '../common/errors/store-unavailable.error';
import { CredentialExchanger } from './credential.exchanger';
import { credentialHash } from './rotation-links';
import { ACCOUNT_STORE, type AccountStore } from './stores/account-store';
import { readAccessTokenClaims } from './token-kind';

export interface ExchangedAccessToken {
  accessToken: string;
  /** Milliseconds since the epoch: the JWT's `exp`, else now + `expires_in`. */
  expiresAt: number;
  /**
   * The newest RefreshToken, when the auth server rotated the one presented (now or on an earlier exchange): the
   * presented one is spent and must not be sent again.
   */
  refreshToken?: string;
}

/**
 * The auth server refused the RefreshToken for good: a 400, 401 or 403 whose OAuth error is one of `REFUSAL_CODES`
 * (a revoked, expired, reused value), `code` naming it.
 */
export class RefreshTokenRejectedError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
  ) {
    super(`refresh token rejected: ${code} (HTTP ${status})`);
    this.name = 'RefreshTokenRejectedError';
  }
}

/**
 * The exchange failed for a reason that says nothing about the RefreshToken: network, timeout, 5xx, 429, a malformed
 * answer, or a 4xx that does not name the token refused (the deployment's client settings, its region, a proxy).
 */
export class AuthServerUnavailableError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'AuthServerUnavailableError';
  }
}

/** Statuses whose OAuth error may be about the request's RefreshToken; 429 and 5xx are the auth server's state, not the token's. */
const REFUSAL_STATUSES = new Set([400, 401, 403]);
/**
 * The OAuth errors that name the RefreshToken itself refused: RFC 6749's `invalid_grant` and `access_denied`, and the
 * codes auth.openai.com answers a spent, expired or revoked one with (`{"error": {"code": …}}`, in a 401). Any other
 * error, named or not, counts as transient: those seen are about the deployment, which every account would get alike
 * (its client settings, `invalid_client`; its egress region, 403 `unsupported_country_region_territory` of type
 * `request_forbidden`; a proxy's or WAF's JSON), and disabling each account for them would empty the pool for good.
 * `invalid_request` is not a refusal either: RFC 6749 §5.2 gives it to a malformed request, and the gateway sends one
 * form for every account (a RefreshToken the server does not accept is `invalid_grant`).
 */
const REFUSAL_CODES = new Set([
  'invalid_grant',
  'access_denied',
  'refresh_token_reused',
  'refresh_token_expired',
  'refresh_token_invalidated',
  'token_expired',
  'token_invalidated',
  'token_revoked',
]);
/** The lock around one RefreshToken's exchange across instances: held at most this long (the exchange's own limit is 15 s). */
const EXCHANGE_LOCK_TTL_MS = 30_000;
/** How long an exchange waits for another instance's exchange of the same RefreshToken. */
const EXCHANGE_LOCK_WAIT_MS = 20_000;
/** How many values of one chain an exchange tries in turn while other instances keep spending them first. */
const MAX_EXCHANGE_ROUNDS = 5;
/** When neither the JWT nor `expires_in` says how long the AccessToken lives. */
export const DEFAULT_LIFETIME_MS = 60 * 60_000;

/**
 * RefreshToken → AccessToken (upstream-protocol.md §11, gateway.md §8.3). Results are cached until
 * shortly before the AccessToken expires, and concurrent exchanges of one RefreshToken share one request.
 * It keeps no account state: the pool decides what a failure means for an account.
 *
 * An auth server that rotates RefreshTokens spends the one presented and answers a new one. Every spent value is
 * linked to the newest, and later exchanges of a spent value send the newest: an API client or a browser session
 * that still holds an older value keeps working. The pool and browser
 * sessions store the newest value (`refreshToken` in the answer), and the pool's store keeps the newest value of
 * every value spent or presented, so that a restart, or another instance sharing the store, does not send a spent one.
 */
@Injectable()
export class RefreshTokenExchanger extends CredentialExchanger<ExchangedAccessToken> {
  constructor(
    private readonly config: AppConfig,
    clock: Clock,
    private readonly upstream: UpstreamClient,
    /** Where rotations outlive this process (files or Redis); without one they are kept in memory only. */
    @Optional() @Inject(ACCOUNT_STORE) private readonly store?: AccountStore,
  ) {
    super('refresh-token', new Logger(RefreshTokenExchanger.name), clock, store);
  }

  /**
   * @param options.force skip the cache (the cached AccessToken was refused upstream); an exchange already
   *   under way is still shared.
   * @throws RefreshTokenRejectedError, AuthServerUnavailableError
   */
  async exchange(refreshToken: string, options: { force?: boolean } = {}): Promise<ExchangedAccessToken> {
    const newest = await this.rotations.newest(refreshToken);
    const result = await this.exchanges.get(newest, options.force ?? false, () => this.requestNewest(refreshToken, newest));
    const newestNow = await this.rotations.keep(refreshToken);
    return newestNow !== refreshToken ? { ...result, refreshToken: newestNow } : result;
  }

  /**
   * A real exchange for the holder of `presented`, whose newest value is `newest` as far as this process knows. An
   * auth server that rotates spends what it is sent, so the instances sharing the store send a value one at a time,
   * under a lock named by the hash of the value sent. Once the lock is held the store is read again: when another
   * instance has spent that value meanwhile, the exchange moves on to the value that replaced it, under its lock.
   */
  private async requestNewest(presented: string, newest: string): Promise<ExchangedAccessToken> {
    let sending = newest;
    for (let round = 1; ; round++) {
      const sent = await this.underExchangeLock(sending, () => this.requestUnlessSpent(presented, sending));
      if ('result' in sent) return sent.result;
      if (round >= MAX_EXCHANGE_ROUNDS) throw new AuthServerUnavailableError('this RefreshToken kept being rotated by other instances');
      sending = sent.spentFor;
    }
  }

  /** Runs `exchange` under the lock of `value`; a store that does not answer leaves this process to exchange on its own. */
  private async underExchangeLock<T>(value: string, exchange: () => Promise<T>): Promise<T> {
    if (!this.store) return exchange();
    let locked;
    try {
      locked = await this.store.withLock(`refresh-token:${credentialHash(value)}`, EXCHANGE_LOCK_TTL_MS, exchange, {
        waitMs: EXCHANGE_LOCK_WAIT_MS,
      });
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      this.logger.warn(`Exchanging ${maskSecret(value)} without the shared lock: ${error.message}`);
      return exchange();
    }
    if (!locked.acquired) throw new AuthServerUnavailableError('another instance is still exchanging this RefreshToken');
    return locked.value;
  }

  /**
   * Sends `sending` unless the store now says it was replaced (`spentFor`, the newest value), read again once more
   * after a refusal in case that happened meanwhile. The rotation is stored before the lock is let go: the next
   * instance to take it must read the value this exchange left.
   */
  private async requestUnlessSpent(presented: string, sending: string): Promise<{ result: ExchangedAccessToken } | { spentFor: string }> {
    const newest = await this.rotations.reread(presented);
    if (newest !== sending) return { spentFor: newest };
    let result: ExchangedAccessToken;
    try {
      result = await this.request(sending);
    } catch (error) {
      if (!(error instanceof RefreshTokenRejectedError)) throw error;
      const newer = await this.rotations.reread(presented);
      if (newer === sending) throw error;
      return { spentFor: newer };
    }
    await this.rotations.keep(presented, { retry: true });
    return { result };
  }

  private async request(refreshToken: string): Promise<ExchangedAccessToken> {
    const masked = maskSecret(refreshToken);
    const proxies = this.config.proxyUrl;
    const proxy = proxies.length > 0 ? proxies[Math.floor(Math.random() * proxies.length)] : undefined;
    let status: number;
    let body: string;
    try {
      const response = await this.upstream.request({
        method: 'POST',
        url: `${this.config.authBaseUrl.replace(/\/+$/, '')}/oauth/token`,
        json: {
          client_id: this.config.refreshClientId,
          grant_type: 'refresh_token',
          redirect_uri: this.config.refreshRedirectUri,
          refresh_token: refreshToken,
        },
        proxyUrl: proxy ?? null,
        timeoutMs: 15_000,
        followRedirects: true,
        step: 'refresh',
      });
      status = response.status;
      body = response.body.toString('utf8');
    } catch (error) {
      const reason = transportDetail(error);
      this.logger.warn(`Refresh of ${masked} failed: auth server unreachable (${reason})`);
      throw new AuthServerUnavailableError(`auth server unreachable: ${reason}`);
    }
    const rejection = refusalCode(status, body);
    if (rejection) {
      this.exchanges.forget(refreshToken);
      this.logger.warn(`Refresh of ${masked} rejected: ${rejection} (HTTP ${status})`);
      throw new RefreshTokenRejectedError(rejection, status);
    }
    const answer = status >= 200 && status < 300 ? parseAnswer(body) : null;
    if (!answer) {
      const named = status >= 300 ? oauthErrorCode(body) : undefined;
      const what = `HTTP ${status}${status < 300 ? ' without an access_token' : named ? ` (${named})` : ''}`;
      this.logger.warn(`Refresh of ${masked} failed: ${what}`);
      throw new AuthServerUnavailableError(`auth server answered ${what}`, status);
    }
    const expiresAt =
      readAccessTokenClaims(answer.access_token).expiresAt ??
      this.clock.now() + (typeof answer.expires_in === 'number' ? answer.expires_in * 1000 : DEFAULT_LIFETIME_MS);
    const rotated =
      typeof answer.refresh_token === 'string' && answer.refresh_token && answer.refresh_token !== refreshToken
        ? answer.refresh_token
        : undefined;
    const result: ExchangedAccessToken = { accessToken: answer.access_token, expiresAt };
    this.exchanges.remember(refreshToken, result);
    if (rotated) {
      this.rotations.link(refreshToken, rotated);
      this.exchanges.remember(rotated, result);
    }
    this.logger.log(
      `Refreshed ${masked}: access token ${maskSecret(result.accessToken)} until ${new Date(expiresAt).toISOString()}${rotated ? `, rotated to ${maskSecret(rotated)}` : ''}`,
    );
    return result;
  }
}

/** What a refusal of the RefreshToken is called, or undefined when the answer is not one (see `RefreshTokenRejectedError`). */
function refusalCode(status: number, body: string): string | undefined {
  if (!REFUSAL_STATUSES.has(status)) return undefined;
  const code = oauthErrorCode(body);
  return code && REFUSAL_CODES.has(code) ? code : undefined;
}

/**
 * The error an OAuth answer names: `{"error": "code"}` or `{"error": {"code" | "type": …}}`. Undefined for anything
 * else, such as a proxy's or Cloudflare's HTML page.
 */
function oauthErrorCode(body: string): string | undefined {
  let answer: unknown;
  try {
    answer = JSON.parse(body);
  } catch {
    return undefined;
  }
  const error = (answer as { error?: unknown } | null)?.error;
  if (typeof error === 'string') return error || undefined;
  if (!error || typeof error !== 'object') return undefined;
  const { code, type } = error as { code?: unknown; type?: unknown };
  if (typeof code === 'string' && code) return code;
  return typeof type === 'string' && type ? type : undefined;
}

function parseAnswer(body: string): { access_token: string; expires_in?: unknown; refresh_token?: unknown } | null {
  try {
    const answer = JSON.parse(body) as Record<string, unknown>;
    return typeof answer.access_token === 'string' && answer.access_token ? (answer as { access_token: string }) : null;
  } catch {
    return null;
  }
}
