import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { scrypt } from 'node:crypto';
import { secretsEqual } from '../common/util/secrets';
import { AppConfig } from '../config/app-config';

/** About 100 ms and 32 MB once per process; each guess against a stolen fingerprint costs the same. */
const SCRYPT_COST = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

/** Where the admin secret comes from: `ADMIN_KEY`, or `API_PREFIX` alone (the reference's way), or nowhere. */
export type AdminSecretSource = 'ADMIN_KEY' | 'API_PREFIX' | null;

/**
 * The admin secret (gateway.md §8.7, "Ours"). Without one the admin does not exist: every admin route
 * answers 404, never an open admin.
 */
@Injectable()
export class AdminSecret implements OnApplicationBootstrap {
  private readonly logger = new Logger('Admin');
  private readonly value: string | undefined;
  private fingerprinting?: { salt: string; fingerprint: Promise<string> };
  readonly source: AdminSecretSource;

  constructor(config: AppConfig) {
    this.value = config.adminKey ?? config.apiPrefix;
    this.source = config.adminKey ? 'ADMIN_KEY' : config.apiPrefix ? 'API_PREFIX' : null;
    this.hasDot = this.value?.includes('.') ?? false;
  }

  get enabled(): boolean {
    return this.value !== undefined;
  }

  /**
   * Whether visiting `/{API_PREFIX}` signs in. Only when API_PREFIX is the secret: with ADMIN_KEY set, the
   * prefix is handed to API users and must not open the admin, and ADMIN_KEY never goes in a URL.
   */
  get entryPathEnabled(): boolean {
    return this.source === 'API_PREFIX';
  }

  /**
   * Names the secret without revealing it, so that sessions made under one secret end when the operator changes it
   * (a leaked secret is rotated to lock its holder out). Memory-hard (scrypt) and salted with this deployment's
   * session signing key: a copy of the store does not let anyone test guesses of the secret at hash speed.
   * Computed once per process and salt (the salt changes only when this instance adopts another stored key). Null while
   * disabled.
   */
  fingerprint(salt: string): Promise<string | null> {
    const value = this.value;
    if (value === undefined) return Promise.resolve(null);
    if (this.fingerprinting?.salt !== salt) {
      const fingerprint = new Promise<string>((resolve, reject) =>
        scrypt(value, `flowgpt admin session\n${salt}`, 32, SCRYPT_COST, (error, key) =>
          error ? reject(error) : resolve(key.toString('base64url')),
        ),
      );
      this.fingerprinting = { salt, fingerprint };
    }
    return this.fingerprinting.fingerprint;
  }

  /** Whether the secret has a dot, as file names do: then a dotted path at `/{API_PREFIX}` may be a guess of it. */
  readonly hasDot: boolean;

  /** Constant-time comparison; always false while the admin is disabled. */
  matches(given: string | null | undefined): boolean {
    return this.value !== undefined && secretsEqual(given, this.value);
  }

  onApplicationBootstrap(): void {
    if (this.source === 'ADMIN_KEY') this.logger.log('Admin enabled at /admin (secret: ADMIN_KEY)');
    else if (this.source === 'API_PREFIX') {
      this.logger.log(
        'Admin enabled at /admin (secret: API_PREFIX, also reachable at /<API_PREFIX>); set ADMIN_KEY to keep the API prefix and the admin secret apart',
      );
    } else this.logger.log('Admin disabled: set ADMIN_KEY (at least 8 characters) to enable /admin and /admin/api');
  }
}
