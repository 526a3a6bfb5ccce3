import { Injectable, Provider } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreUnavailableError } from '../common/errors/store-unavailable.error';
import { SharedState } from '../common/shared-state/shared-state';
import { COOKIE_SECRET } from '../common/http/cookie-secret';
import { AppConfig } from '../config/app-config';
import { AdminSecret } from './admin-secret.service';

/** Under `DATA_DIR` when there is neither `SESSION_SECRET` nor Redis. */
export const SIGNING_KEY_FILE = 'admin-session.key';
const SIGNING_KEY_BYTES = 32;

/**
 * The key that signs admin session cookies. It must be the same in every instance and survive restarts, so
 * it is never a per-process random: `SESSION_SECRET` when set; else one made once and kept in the store
 * (Redis: set only if absent, so concurrent first starts agree; files: `DATA_DIR/admin-session.key`, 0600).
 * Read once at boot by `adminCookieSecret`, and only when the admin is enabled, so an app without an admin never creates it.
 */
@Injectable()
export class AdminSigningKey {
  private loading?: Promise<string>;

  constructor(
    private readonly config: AppConfig,
    private readonly shared: SharedState,
  ) {}

  get(): Promise<string> {
    this.loading ??= this.load().catch((error: unknown) => {
      this.loading = undefined;
      throw error;
    });
    return this.loading;
  }

  /** A string, as cookie-parser's signing wants one. */
  private async load(): Promise<string> {
    if (this.config.sessionSecret)
      return createHash('sha256').update('flowgpt-admin-session\n').update(this.config.sessionSecret).digest('base64');
    const fresh = randomBytes(SIGNING_KEY_BYTES).toString('base64');
    if (this.shared.connection) return this.shared.keyValues('admin').setIfAbsent('signing-key', fresh);
    return this.fromFile(fresh);
  }

  /**
   * The key is written whole under a temporary name, then linked in place: a crash never leaves a half-written key,
   * and of two first starts on one folder, one key wins. A file that holds no key (an empty one, from a crash of a
   * version that wrote in place) is replaced.
   */
  private async fromFile(fresh: string): Promise<string> {
    const path = join(this.config.dataDir, SIGNING_KEY_FILE);
    try {
      await mkdir(this.config.dataDir, { recursive: true, mode: 0o700 });
      const kept = await readKey(path);
      if (kept) return kept;
      const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        const file = await open(temp, 'wx', 0o600);
        try {
          await file.writeFile(`${fresh}\n`);
          await file.sync();
        } finally {
          await file.close();
        }
        if (kept === null) {
          const linked = await link(temp, path).then(
            () => true,
            (error: NodeJS.ErrnoException) => {
              if (error.code === 'EEXIST') return false;
              throw error;
            },
          );
          if (linked) return fresh;
          const won = await readKey(path);
          if (won) return won;
        }
        await rename(temp, path);
        return fresh;
      } finally {
        await rm(temp, { force: true });
      }
    } catch (error) {
      throw new StoreUnavailableError(`files under ${this.config.dataDir}`, error);
    }
  }
}

/** The key kept at `path` (any one word: an operator may have put their own); '' when the file holds none; null when there is no file. */
async function readKey(path: string): Promise<string | null> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (text === null) return null;
  const key = text.trim();
  return /^\S+$/.test(key) ? key : '';
}

/**
 * The secret `configureApp` gives cookie-parser, which signs the admin session cookie and verifies it into
 * `request.signedCookies`: resolved while the app is built (an async provider), since Express middleware
 * is installed synchronously. Null without an admin: nothing signs cookies then.
 */
export const adminCookieSecret: Provider = {
  provide: COOKIE_SECRET,
  inject: [AdminSecret, AdminSigningKey],
  useFactory: (secret: AdminSecret, key: AdminSigningKey): Promise<string | null> | null => (secret.enabled ? key.get() : null),
};
