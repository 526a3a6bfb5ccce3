import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SharedState } from '../common/shared-state/shared-state';
import { redisTestConnections } from '../common/shared-state/testing/redis-test-connections';
import { FakeClock } from '../token-pool/testing/fake-clock';
import { BrowserSessionStore } from './browser-session.store';

const OWNER = { kind: 'owner' as const, credential: { kind: 'refresh_token' as const, token: 'rt_first' } };

/** Each place sessions live: memory (no DATA_DIR snapshot), the file snapshot under DATA_DIR/state, and Redis. */
describe.each(['memory', 'file', 'redis'] as const)('BrowserSessionStore (%s)', (kind) => {
  const redis = redisTestConnections();
  const dir = mkdtempSync(join(tmpdir(), 'flowgpt-sessions-'));
  let clock: FakeClock;
  let shared: SharedState;
  let store: BrowserSessionStore;

  beforeEach(async () => {
    clock = new FakeClock(Date.now());
    if (kind === 'redis') shared = new SharedState(await redis.open(), redis.prefix);
    else shared = new SharedState(null, redis.prefix, kind === 'file' ? mkdtempSync(join(dir, 'state-')) : undefined);
    store = new BrowserSessionStore(shared, clock);
  });
  afterAll(async () => {
    await redis.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps an update of a live session, by id and by stand-in', async () => {
    const session = await store.create(OWNER);
    expect(await store.update({ ...session, credential: { kind: 'refresh_token', token: 'rt_second' } })).toBe(true);
    expect((await store.byId(session.id))?.credential?.token).toBe('rt_second');
    expect((await store.byStandInToken(session.standInToken))?.id).toBe(session.id);
  });

  it('never brings back a session destroyed after the copy being updated was read', async () => {
    const session = await store.create(OWNER);
    const copy = (await store.byId(session.id))!;
    await store.destroy(session);
    expect(await store.update({ ...copy, credential: { kind: 'refresh_token', token: 'rt_second' } })).toBe(false);
    expect(await store.byId(session.id)).toBeNull();
    expect(await store.byStandInToken(session.standInToken)).toBeNull();
  });

  it('does not extend a session signed out between reading it and sliding its expiry', async () => {
    const session = await store.create(OWNER);
    clock.advance(2 * 60 * 60_000);
    const values = shared.keyValues('browser-session');
    const get = values.get.bind(values);
    // Another request signs out right after this one read the session, before it writes the longer expiry.
    jest.spyOn(values, 'get').mockImplementationOnce(async (key, now) => {
      const value = await get(key, now);
      await store.destroy(session);
      return value;
    });
    expect(await store.byId(session.id)).toBeNull();
    expect(await store.byId(session.id)).toBeNull();
    expect(await store.byStandInToken(session.standInToken)).toBeNull();
  });

  it('tells who listens of each session it ends: signed out, or found with an expired credential', async () => {
    const ended: string[] = [];
    store.onEnded((sessionId) => ended.push(sessionId));
    const signedOut = await store.create(OWNER);
    await store.destroy(signedOut);
    const expiring = await store.create({ ...OWNER, credentialExpiresAt: clock.now() + 1_000 });
    clock.advance(2_000);
    expect(await store.byId(expiring.id)).toBeNull();
    expect(ended).toEqual([signedOut.id, expiring.id]);
  });
});
