import { Injectable, Logger } from '@nestjs/common';
import { maskSecret, secretInList, secretsEqual } from '../common/util/secrets';
import { AppConfig } from '../config/app-config';
import { Clock } from '../common/vocabulary/clock';
import { AuthServerUnavailableError, RefreshTokenExchanger, RefreshTokenRejectedError } from '../token-pool/refresh-token.exchanger';
import { SeedRegistry, seedIdFor } from '../token-pool/seed-registry';
import { SessionTokenExchanger, SessionTokenRejectedError } from '../token-pool/session-token.exchanger';
import { parseCredential, readAccessTokenClaims } from '../token-pool/token-kind';
import { AccessTokenChecker } from './access-token.checker';
import { ownerKeyFor, type OwnerCredential, type SessionIdentity } from './browser-session.store';

/** Why a typed token cannot sign in; each has its own message on the page (`PageText.errors`). */
export type SignInFailure =
  | {
      reason:
        | 'empty'
        | 'unknownShape'
        | 'malformedAccessToken'
        | 'seedTooShort'
        | 'refreshRefused'
        | 'authServerDown'
        | 'sessionRefused'
        | 'accessRefused'
        | 'workspaceUnknown'
        | 'sessionUnavailable'
        | 'seedUnknown'
        | 'seedLimit'
        | 'poolEmpty'
        | 'poolKey'
        | 'adminKey'
        | 'apiPrefix'
        | 'unsupported';
    }
  | { reason: 'expired'; expiredAt: number };

export type SignInCheck = { ok: true; identity: SessionIdentity } | ({ ok: false } & SignInFailure);

/** Longer would be no seed anyone types; whitespace and control characters are never part of one. */
const SEED_PATTERN = /^[^\s\p{C}]{1,256}$/u;
/** With AUTO_SEED=true anyone's string becomes a seed: a short one is too easy for someone else to pick too. */
export const MIN_AUTO_SEED_LENGTH = 8;

/**
 * Decides whom a token typed into the sign-in form signs in (gateway.md §3.6): an owner with their own
 * AccessToken (unexpired by its claims, and not refused by chatgpt.com), RefreshToken or SessionToken (exchanged now), or a seed user bound to a pool
 * account. A pool key (`AUTHORIZATION`) is refused: every holder of that key would share one seed and so
 * one conversation list, and it is an API credential, not a person's. So is the admin secret (`ADMIN_KEY`, else
 * `API_PREFIX`), which an admin may paste here by mistake, and, with `ADMIN_KEY` set, `API_PREFIX`: a secret path
 * handed to API users, which would become one login shared by all of them. An `API_PREFIX` shorter than
 * `MIN_AUTO_SEED_LENGTH` cannot become a seed and is not singled out: it is refused as any short token is.
 */
@Injectable()
export class BrowserSignIn {
  private readonly logger = new Logger('BrowserSignIn');

  constructor(
    private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly seeds: SeedRegistry,
    private readonly exchanger: RefreshTokenExchanger,
    private readonly sessions: SessionTokenExchanger,
    private readonly accessTokens: AccessTokenChecker,
  ) {}

  async check(typed: string | undefined): Promise<SignInCheck> {
    const token = (typed ?? '').trim();
    if (!token) return { ok: false, reason: 'empty' };
    if (secretInList(token, this.config.authorization)) return { ok: false, reason: 'poolKey' };
    // Never a seed: with AUTO_SEED it would be one for good, the secret kept in the seed store and a shared sign-in.
    // Shorter than a seed may be, a secret gets the answer any short token gets below: its own refusal would tell someone
    // guessing a short API_PREFIX that they found it (20 tries in 10 minutes here, beside the prefix's own throttle).
    if (token.length >= MIN_AUTO_SEED_LENGTH) {
      if (secretsEqual(token, this.config.adminKey ?? this.config.apiPrefix)) return { ok: false, reason: 'adminKey' };
      if (secretsEqual(token, this.config.apiPrefix)) return { ok: false, reason: 'apiPrefix' };
    }
    const credential = parseCredential(token);
    if (!credential) return this.checkSeed(token);
    switch (credential.kind) {
      case 'access_token': {
        if (credential.token.startsWith('fk-')) return { ok: true, identity: { kind: 'owner', credential } };
        const claims = readAccessTokenClaims(credential.token);
        if (claims.expiresAt === undefined) return { ok: false, reason: 'malformedAccessToken' };
        if (claims.expiresAt <= this.clock.now()) return { ok: false, reason: 'expired', expiredAt: claims.expiresAt };
        // Claims can be forged and a token revoked: chatgpt.com says whether it works (unreachable: signed in on the claims).
        const verdict = await this.accessTokens.check(credential.token, credential.chatgptAccountId);
        if (verdict === 'refused') return { ok: false, reason: 'accessRefused' };
        if (verdict === 'unknownWorkspace') return { ok: false, reason: 'workspaceUnknown' };
        return {
          ok: true,
          identity: { kind: 'owner', credential, email: claims.email, userId: claims.userId, credentialExpiresAt: claims.expiresAt },
        };
      }
      case 'refresh_token':
        return this.checkRefreshToken(credential);
      case 'session_token':
        return this.checkSessionToken(credential);
      default:
        return { ok: false, reason: 'unsupported' };
    }
  }

  /** Exchanged now, so that a signed-out cookie is refused at the form; the session keeps the newest cookie value. */
  private async checkSessionToken(credential: OwnerCredential): Promise<SignInCheck> {
    try {
      // The session keeps the fingerprint the typed value was checked with, whatever the cookie rotates to.
      const ownerKey = ownerKeyFor(credential);
      const exchanged = await this.sessions.exchange(credential.token, { fingerprintKey: ownerKey });
      const claims = readAccessTokenClaims(exchanged.accessToken);
      const token = exchanged.sessionToken ?? credential.token;
      return {
        ok: true,
        identity: { kind: 'owner', credential: { ...credential, token }, email: claims.email, userId: claims.userId, ownerKey },
      };
    } catch (error) {
      if (error instanceof SessionTokenRejectedError) return { ok: false, reason: 'sessionRefused' };
      if (error instanceof AuthServerUnavailableError) return { ok: false, reason: 'sessionUnavailable' };
      throw error;
    }
  }

  private async checkRefreshToken(credential: OwnerCredential): Promise<SignInCheck> {
    try {
      const exchanged = await this.exchanger.exchange(credential.token);
      const claims = readAccessTokenClaims(exchanged.accessToken);
      // A rotating auth server spent the typed token: the session keeps the new one.
      const token = exchanged.refreshToken ?? credential.token;
      return { ok: true, identity: { kind: 'owner', credential: { ...credential, token }, email: claims.email, userId: claims.userId } };
    } catch (error) {
      if (error instanceof RefreshTokenRejectedError) return { ok: false, reason: 'refreshRefused' };
      if (error instanceof AuthServerUnavailableError) return { ok: false, reason: 'authServerDown' };
      throw error;
    }
  }

  /** Binds the seed now, so that the first request of the session already has an account. */
  private async checkSeed(seed: string): Promise<SignInCheck> {
    if (!SEED_PATTERN.test(seed) || /^eyJ/.test(seed))
      return { ok: false, reason: /^eyJ/.test(seed) ? 'malformedAccessToken' : 'unknownShape' };
    if (this.config.autoSeed && seed.length < MIN_AUTO_SEED_LENGTH) return { ok: false, reason: 'seedTooShort' };
    const lease = await this.seeds.leaseForSeed(seed);
    if (lease === 'invalid_seed') return { ok: false, reason: 'seedUnknown' };
    if (lease === 'seed_limit') return { ok: false, reason: 'seedLimit' };
    if (!lease) return { ok: false, reason: 'poolEmpty' };
    this.logger.log(`Seed ${maskSecret(seed)} signed in on account ${lease.accountId}`);
    return { ok: true, identity: { kind: 'seed', seed, seedId: seedIdFor(seed) } };
  }
}
