import { Injectable } from '@nestjs/common';
import { sign, unsign } from 'cookie-signature';
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreUnavailableError } from '../common/errors/store-unavailable.error';
import { SharedState } from '../common/shared-state/shared-state';
import { Clock } from '../common/vocabulary/clock';
import { AppConfig } from '../config/app-config';

/** Under `DATA_DIR` when there is neither `SESSION_SECRET` nor Redis. */
export const SIGNING_KEY_FILE = 'admin-session.key';
const SIGNING_KEY_BYTES = 32;
/** How long an instance on Redis goes on with the key it last read before it reads it again. */
export const STORED_KEY_RECHECK_MS = 60_000;
/** cookie-parser's mark of a signed cookie (`s:<value>.<signature>`), as Express writes it. */
const SIGNED_PREFIX = 's:';

/** A cookie's value once its signature holds, with the key that signed it. */
export interface VerifiedCookie {
  value: string;
  key: string;
}

/**
 * The key that signs admin session cookies. It must be the same in every instance and survive restarts, so it is never
 * a per-process random: `SESSION_SECRET` when set; else one made once and kept in the store (files:
 * `DATA_DIR/admin-session.key`, 0600; Redis: see below). Made on first use (an admin sign-in, or a file link that seals a
 * client's AccessToken: `LinkTokenSeal`), so an app that needs neither never creates it.
 *
 * In Redis the key can be lost while the instances run (evicted under an allkeys-* policy, a restart without
 * persistence), and an instance started then makes another one: each instance would go on signing with the key it read
 * at its start, and an admin would be signed out whenever the load balancer sent them to an instance with the other
 * key. So the store's value is the truth, and every instance adopts it:
 * - every read is `setIfAbsent` with the key the instance holds (a fresh one only at its first read): it puts a lost
 *   key back, so that an instance started later adopts the key the others hold, and otherwise answers the stored one;
 * - the key is read again when it was last read `STORED_KEY_RECHECK_MS` ago, before each signing (a sign-in is rare,
 *   and a cookie signed with a key the others have given up would not pass there), and when a cookie fails with the
 *   held key: a cookie signed by an instance that holds the stored key then passes everywhere at once.
 * A cookie signed with a key that is no longer stored stops passing everywhere, so its admin signs in once more.
 */
@Injectable()
export class AdminSigningKey {
  /** `SESSION_SECRET`'s, or the file's: fixed while the process runs. */
  private fixed?: Promise<string>;
  /** The key read from Redis last, and when. */
  private held?: { key: string; readAt: number };
  private reading?: Promise<string>;

  constructor(
    private readonly config: AppConfig,
    private readonly shared: SharedState,
    private readonly clock: Clock,
  ) {}

  /** The key cookies are checked with first (a string, as cookie signing wants one). */
  get(): Promise<string> {
    if (!this.shared.connection) return this.fixedKey();
    if (this.held && this.clock.now() - this.held.readAt < STORED_KEY_RECHECK_MS) return Promise.resolve(this.held.key);
    return this.readStored();
  }

  /** The deployment's key as the store holds it now: read afresh from Redis (a lost key is put back first), else the fixed one. */
  fresh(): Promise<string> {
    return this.shared.connection ? this.readStored() : this.fixedKey();
  }

  /** The cookie value that carries `value` signed with the deployment's key (read afresh from Redis). */
  async sign(value: string): Promise<VerifiedCookie & { cookie: string }> {
    const key = await this.fresh();
    return { cookie: SIGNED_PREFIX + sign(value, key), value, key };
  }

  /** What a signed cookie carries, when the deployment's key signed it; null for anything else. */
  async verify(cookie: unknown): Promise<VerifiedCookie | null> {
    if (typeof cookie !== 'string' || !cookie.startsWith(SIGNED_PREFIX)) return null;
    const signed = cookie.slice(SIGNED_PREFIX.length);
    const held = await this.get();
    const value = unsign(signed, held);
    if (value !== false) return { value, key: held };
    if (!this.shared.connection) return null;
    const stored = await this.readStored();
    const again = stored === held ? false : unsign(signed, stored);
    return again === false ? null : { value: again, key: stored };
  }

  /** One read at a time: concurrent callers share it. */
  private readStored(): Promise<string> {
    this.reading ??= this.shared
      .keyValues('admin')
      .setIfAbsent('signing-key', this.held?.key ?? randomBytes(SIGNING_KEY_BYTES).toString('base64'))
      .then((key) => {
        this.held = { key, readAt: this.clock.now() };
        return key;
      })
      .finally(() => (this.reading = undefined));
    return this.reading;
  }

  private fixedKey(): Promise<string> {
    this.fixed ??= this.loadFixed().catch((error: unknown) => {
      this.fixed = undefined;
      throw error;
    });
    return this.fixed;
  }

  private async loadFixed(): Promise<string> {
    if (this.config.sessionSecret)
      return createHash('sha256').update('flowgpt-admin-session\n').update(this.config.sessionSecret).digest('base64');
    return this.fromFile(randomBytes(SIGNING_KEY_BYTES).toString('base64'));
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
