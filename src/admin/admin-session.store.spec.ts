import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SharedState } from '../common/shared-state/shared-state';
import { AppConfig } from '../config/app-config';
import { Clock } from '../common/vocabulary/clock';
import { ADMIN_SESSION_TTL_MS, AdminSessionStore } from './admin-session.store';
import { AdminSigningKey, SIGNING_KEY_FILE } from './admin-signing-key';

class ManualClock extends Clock {
  time = 1_700_000_000_000;
  now(): number {
    return this.time;
  }
}

describe('AdminSessionStore', () => {
  let clock: ManualClock;
  let dataDir: string;
  let config: AppConfig;
  let shared: SharedState;
  let store: AdminSessionStore;
  const storeWith = (settings: Partial<AppConfig> = {}, state = shared) => new AdminSessionStore(state, new AdminSigningKey(Object.assign(new AppConfig(), config, settings), state), clock);

  beforeEach(async () => {
    clock = new ManualClock();
    dataDir = await mkdtemp(join(tmpdir(), 'flowgpt-sessions-'));
    config = Object.assign(new AppConfig(), { dataDir });
    shared = new SharedState(null, 'test:');
    store = storeWith();
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it('finds a session by its signed cookie value', async () => {
    const { session, cookieValue } = await store.create();
    expect(cookieValue.startsWith(`${session.id}.`)).toBe(true);
    expect(await store.fromCookie(cookieValue)).toEqual(session);
    expect(session.csrfToken).toMatch(/^[\w-]{32}$/);
  });

  it('refuses a missing, unsigned, forged or foreign cookie', async () => {
    const { session, cookieValue } = await store.create();
    const signature = cookieValue.slice(session.id.length + 1);
    expect(await store.fromCookie(undefined)).toBeNull();
    expect(await store.fromCookie(session.id)).toBeNull();
    expect(await store.fromCookie(`${session.id}.${signature.slice(1)}x`)).toBeNull();
    expect(await store.fromCookie(`other.${signature}`)).toBeNull();
    // Another deployment (its own data folder, so its own key) refuses it even with the same session id stored.
    const otherDir = await mkdtemp(join(tmpdir(), 'flowgpt-sessions-'));
    try {
      expect(await storeWith({ dataDir: otherDir }).fromCookie(cookieValue)).toBeNull();
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  it('keeps the signing key in DATA_DIR (0600), so a restart keeps the key, never a per-process random', async () => {
    const { cookieValue } = await store.create();
    const path = join(dataDir, SIGNING_KEY_FILE);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const key = await readFile(path, 'utf8');
    // A new process on the same folder and the same shared state signs the same way.
    expect(await storeWith().fromCookie(cookieValue)).not.toBeNull();
    expect(await readFile(path, 'utf8')).toBe(key);
  });

  it('signs with SESSION_SECRET when it is set: two instances with it accept each other’s cookies', async () => {
    const secret = 'a-session-secret-of-at-least-32-characters';
    const { cookieValue } = await storeWith({ sessionSecret: secret }).create();
    const otherDir = await mkdtemp(join(tmpdir(), 'flowgpt-sessions-'));
    try {
      expect(await storeWith({ sessionSecret: secret, dataDir: otherDir }).fromCookie(cookieValue)).not.toBeNull();
      expect(await storeWith({ sessionSecret: `${secret}-other` }).fromCookie(cookieValue)).toBeNull();
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  it('ends a session after 12 hours or when destroyed', async () => {
    const first = await store.create();
    clock.time += ADMIN_SESSION_TTL_MS - 1;
    expect(await store.fromCookie(first.cookieValue)).not.toBeNull();
    clock.time += 1;
    expect(await store.fromCookie(first.cookieValue)).toBeNull();

    const second = await store.create();
    await store.destroy(second.session);
    expect(await store.fromCookie(second.cookieValue)).toBeNull();
  });

  it('hands a flash message out once, also when the next request reads the session anew', async () => {
    const { session, cookieValue } = await store.create();
    await store.setFlash(session, { kind: 'success', text: 'Added 1, 0 duplicates, 0 invalid.' });
    const next = (await store.fromCookie(cookieValue))!;
    expect(await store.takeFlash(next)).toEqual({ kind: 'success', text: 'Added 1, 0 duplicates, 0 invalid.' });
    expect(await store.takeFlash((await store.fromCookie(cookieValue))!)).toBeUndefined();
  });
});
