import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SharedState } from '../common/shared-state/shared-state';
import { AppConfig } from '../config/app-config';
import { AdminSecret } from './admin-secret.service';
import { adminCookieSecret, AdminSigningKey, SIGNING_KEY_FILE } from './admin-signing-key';

describe('AdminSigningKey', () => {
  let dataDir: string;
  const shared = new SharedState(null, 'test:');
  const keyWith = (settings: Partial<AppConfig> = {}) => new AdminSigningKey(Object.assign(new AppConfig(), { dataDir }, settings), shared);

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'flowgpt-signing-'));
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it('keeps the key in DATA_DIR (0600), so a restart keeps the key, never a per-process random', async () => {
    const key = await keyWith().get();
    const path = join(dataDir, SIGNING_KEY_FILE);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const stored = await readFile(path, 'utf8');
    // A new process on the same folder signs the same way; another folder (another deployment) does not.
    expect(await keyWith().get()).toBe(key);
    expect(await readFile(path, 'utf8')).toBe(stored);
    const otherDir = await mkdtemp(join(tmpdir(), 'flowgpt-signing-'));
    try {
      expect(await keyWith({ dataDir: otherDir }).get()).not.toBe(key);
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  it('derives the key from SESSION_SECRET when it is set: two instances with it agree, and no file is written', async () => {
    const secret = 'a-session-secret-of-at-least-32-characters';
    const key = await keyWith({ sessionSecret: secret }).get();
    const otherDir = await mkdtemp(join(tmpdir(), 'flowgpt-signing-'));
    try {
      expect(await keyWith({ sessionSecret: secret, dataDir: otherDir }).get()).toBe(key);
      expect(await keyWith({ sessionSecret: `${secret}-other` }).get()).not.toBe(key);
      await expect(stat(join(dataDir, SIGNING_KEY_FILE))).rejects.toThrow();
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  it('gives cookie-parser the key only when the admin is enabled, so an app without an admin never creates it', async () => {
    const factory = (adminCookieSecret as { useFactory: (secret: AdminSecret, key: AdminSigningKey) => Promise<string | null> | null })
      .useFactory;
    expect(await factory({ enabled: false } as AdminSecret, keyWith())).toBeNull();
    await expect(stat(join(dataDir, SIGNING_KEY_FILE))).rejects.toThrow();
    expect(await factory({ enabled: true } as AdminSecret, keyWith())).toBe(await keyWith().get());
  });

  it('replaces a key file that holds no key (left empty by a crash), instead of failing every sign-in', async () => {
    const path = join(dataDir, SIGNING_KEY_FILE);
    await writeFile(path, '', { mode: 0o600 });
    const key = await keyWith().get();
    expect(key).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect((await readFile(path, 'utf8')).trim()).toBe(key);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await keyWith().get()).toBe(key);
    // Nothing is left behind under a temporary name.
    expect(await readdir(dataDir)).toEqual([SIGNING_KEY_FILE]);
  });

  it('makes one key when two first starts race on one folder', async () => {
    const keys = await Promise.all(Array.from({ length: 8 }, () => keyWith().get()));
    expect(new Set(keys).size).toBe(1);
    expect((await readFile(join(dataDir, SIGNING_KEY_FILE), 'utf8')).trim()).toBe(keys[0]);
    expect(await readdir(dataDir)).toEqual([SIGNING_KEY_FILE]);
  });
});
