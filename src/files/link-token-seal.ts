import { Injectable } from '@nestjs/common';
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { AdminSigningKey } from '../admin/admin-signing-key';
import { AppConfig } from '../config/app-config';

const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Marks the format, so that another one can follow without guessing. */
const SEALED_PREFIX = 'v1.';
/** Keeps this key apart from every other use of the same secret. */
const KEY_PURPOSE = 'flowgpt file-link access token v1';

/**
 * Encrypts the AccessToken a file link keeps (a client's own token: there is no pool account to look it up by), so
 * that the shared state (files under `DATA_DIR/state`, or Redis) never holds it in clear. AES-256-GCM under a key
 * derived from `SESSION_SECRET` when it is set (kept out of the store altogether), else from the install's admin signing
 * key (`AdminSigningKey`: one per install under `DATA_DIR`, or one shared by every instance in Redis). The link's id is
 * authenticated with the token, so a record copied under another id does not open.
 */
@Injectable()
export class LinkTokenSeal {
  constructor(
    private readonly config: AppConfig,
    private readonly signingKey: AdminSigningKey,
  ) {}

  /**
   * Seals under the key the store holds now (read afresh from Redis, as `AdminSigningKey.sign` does): a key an instance
   * read before Redis lost it, and another instance made a new one, would seal links no other instance opens.
   */
  async seal(accessToken: string, linkId: string): Promise<string> {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(CIPHER, this.keyFrom(await this.secret('stored')), iv).setAAD(Buffer.from(linkId));
    const sealed = Buffer.concat([iv, cipher.update(accessToken, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return SEALED_PREFIX + sealed.toString('base64url');
  }

  /**
   * The token, or null when it does not open: another key sealed it (the Redis key was lost and made anew, or
   * `SESSION_SECRET` changed), or the record was altered. With Redis, the key held may be stale: the stored one is tried too.
   */
  async open(sealed: string, linkId: string): Promise<string | null> {
    if (!sealed.startsWith(SEALED_PREFIX)) return null;
    const bytes = Buffer.from(sealed.slice(SEALED_PREFIX.length), 'base64url');
    if (bytes.length <= IV_BYTES + TAG_BYTES) return null;
    const held = await this.secret('held');
    const opened = openWith(this.keyFrom(held), bytes, linkId);
    if (opened !== null || this.config.sessionSecret) return opened;
    const stored = await this.secret('stored');
    return stored === held ? null : openWith(this.keyFrom(stored), bytes, linkId);
  }

  private secret(which: 'held' | 'stored'): Promise<string> {
    if (this.config.sessionSecret) return Promise.resolve(this.config.sessionSecret);
    return which === 'held' ? this.signingKey.get() : this.signingKey.fresh();
  }

  private keyFrom(secret: string): Buffer {
    return Buffer.from(hkdfSync('sha256', secret, '', KEY_PURPOSE, 32));
  }
}

function openWith(key: Buffer, bytes: Buffer, linkId: string): string | null {
  const iv = bytes.subarray(0, IV_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  const decipher = createDecipheriv(CIPHER, key, iv).setAAD(Buffer.from(linkId)).setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}
