import { StoreUnavailableError } from '../common/errors/store-unavailable.error';
import { type DurableLinks, RotationLinks, STORED_ROTATION_TTL_MS } from './rotation-links';
import { FakeClock } from './testing/fake-clock';

/** A store of named values in memory that counts its reads and can be made to fail. */
function memoryStore(): DurableLinks & {
  values: Map<string, string>;
  ttls: Map<string, number | undefined>;
  reads: number;
  failing: boolean;
} {
  const store = {
    values: new Map<string, string>(),
    ttls: new Map<string, number | undefined>(),
    reads: 0,
    failing: false,
    getMeta(key: string) {
      store.reads++;
      return store.failing ? Promise.reject(new Error('store down')) : Promise.resolve(store.values.get(key) ?? null);
    },
    setMeta(key: string, value: string, ttlMs?: number) {
      if (store.failing) return Promise.reject(new Error('store down'));
      store.values.set(key, value);
      store.ttls.set(key, ttlMs);
      return Promise.resolve();
    },
  };
  return store;
}

describe('RotationLinks', () => {
  const clock = new FakeClock();

  it('follows each replaced value to the newest one', () => {
    const links = new RotationLinks('refresh-token', clock);
    links.link('rt-0', 'rt-1');
    links.link('rt-1', 'rt-2');
    expect(links.current('rt-0')).toBe('rt-2');
    expect(links.current('rt-1')).toBe('rt-2');
    expect(links.current('never-rotated')).toBe('never-rotated');
  });

  it('keeps the newest value of a presented one and of every replaced one in the store, under a hash (no value is written)', async () => {
    const store = memoryStore();
    const links = new RotationLinks('refresh-token', clock, store);
    links.link('rt-0', 'rt-1');
    links.link('rt-1', 'rt-2');
    expect(await links.keep('rt-0')).toBe('rt-2');
    expect([...store.values.values()]).toEqual(['rt-2', 'rt-2']);
    for (const key of store.values.keys()) {
      expect(key).toMatch(/^rotation:refresh-token:[0-9a-f]{64}$/);
      expect(key).not.toContain('rt-');
      // Kept for a while after its last change, not for good.
      expect(store.ttls.get(key)).toBe(STORED_ROTATION_TTL_MS);
    }
    // Unchanged since it was written: not written again.
    store.values.clear();
    expect(await links.keep('rt-0')).toBe('rt-2');
    expect(await links.keep('rt-1')).toBe('rt-2');
    expect(store.values.size).toBe(0);
    // A value never replaced is not written at all.
    expect(await links.keep('rt-9')).toBe('rt-9');
    expect(store.values.size).toBe(0);
  });

  it('reads what an earlier process (or another instance) stored, once per value', async () => {
    const store = memoryStore();
    const before = new RotationLinks('refresh-token', clock, store);
    before.link('rt-0', 'rt-1');
    await before.keep('rt-0');
    const after = new RotationLinks('refresh-token', clock, store);
    expect(after.current('rt-0')).toBe('rt-0');
    expect(await after.newest('rt-0')).toBe('rt-1');
    expect(await after.newest('rt-0')).toBe('rt-1');
    expect(await after.newest('rt-5')).toBe('rt-5');
    expect(await after.newest('rt-5')).toBe('rt-5');
    // rt-0, then rt-1 (it might have been replaced too), then rt-5.
    expect(store.reads).toBe(3);
    // Another kind of credential has keys of its own.
    expect(await new RotationLinks('session-token', clock, store).newest('rt-0')).toBe('rt-0');
  });

  it('goes on with what this process knows while the store fails, and reads it once it answers again', async () => {
    const store = memoryStore();
    const earlier = new RotationLinks('refresh-token', clock, store);
    earlier.link('rt-0', 'rt-1');
    await earlier.keep('rt-0');
    store.failing = true;
    const links = new RotationLinks('refresh-token', clock, store);
    expect(await links.newest('rt-0')).toBe('rt-0');
    links.link('rt-3', 'rt-4');
    expect(await links.keep('rt-3')).toBe('rt-4');
    store.failing = false;
    expect(await links.newest('rt-0')).toBe('rt-1');
    // The write that failed is made on the next use.
    expect(await links.keep('rt-3')).toBe('rt-4');
    expect([...store.values.values()]).toContain('rt-4');
  });

  it('stops writing in the background once closed, while the store stays away', async () => {
    const store = memoryStore();
    let tries = 0;
    store.setMeta = () => {
      tries++;
      return Promise.reject(new StoreUnavailableError('Redis at redis://cache', new Error('Command timed out')));
    };
    const links = new RotationLinks('refresh-token', clock, store);
    links.link('rt-0', 'rt-1');
    await links.keep('rt-0');
    while (tries < 3) await new Promise((resolve) => setTimeout(resolve, 20));
    links.close();
    // The loop pauses at most a second between tries: past two, a loop still running would have tried again.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const afterClose = tries;
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect(tries).toBe(afterClose);
  });

  it('stays right however often a value is rotated, and keeps the newest in the store', async () => {
    const store = memoryStore();
    const links = new RotationLinks('refresh-token', clock, store);
    for (let k = 0; k < 100; k++) {
      links.link(links.current('rt-0'), `rt-${k + 1}`);
      expect(await links.keep('rt-0')).toBe(`rt-${k + 1}`);
    }
    const restarted = new RotationLinks('refresh-token', clock, store);
    expect(await restarted.newest('rt-0')).toBe('rt-100');
    expect(await restarted.newest('rt-37')).toBe('rt-100');
    expect(await restarted.newest('rt-100')).toBe('rt-100');
  });

  it('follows the stored values through a chain that several instances rotated, each from the value it was given', async () => {
    const store = memoryStore();
    const poolHolder = new RotationLinks('refresh-token', clock, store);
    const clientHolder = new RotationLinks('refresh-token', clock, store);
    // One instance spends rt-0 for the pool account, which then holds rt-1.
    poolHolder.link('rt-0', 'rt-1');
    await poolHolder.keep('rt-0');
    // Another is given rt-0 by an API client: it sends rt-1, the newest, and gets rt-2.
    expect(await clientHolder.reread('rt-0')).toBe('rt-1');
    clientHolder.link('rt-1', 'rt-2');
    await clientHolder.keep('rt-0');
    // The pool account's rt-1 is spent: the store says so under rt-1 itself.
    expect(await poolHolder.reread('rt-1')).toBe('rt-2');
    expect(await new RotationLinks('refresh-token', clock, store).newest('rt-1')).toBe('rt-2');
  });

  it('stops at a cycle in the stored values', async () => {
    const store = memoryStore();
    const links = new RotationLinks('refresh-token', clock, store);
    links.link('rt-0', 'rt-1');
    await links.keep('rt-0');
    const other = new RotationLinks('refresh-token', clock, store);
    other.link('rt-1', 'rt-0');
    await other.keep('rt-1');
    expect(['rt-0', 'rt-1']).toContain(await new RotationLinks('refresh-token', clock, store).reread('rt-0'));
  });

  it('rereads the store before an exchange: another instance may have rotated the value since', async () => {
    const store = memoryStore();
    const here = new RotationLinks('refresh-token', clock, store);
    const there = new RotationLinks('refresh-token', clock, store);
    here.link('rt-0', 'rt-1');
    await here.keep('rt-0');
    expect(await here.newest('rt-0')).toBe('rt-1');
    expect(await there.newest('rt-0')).toBe('rt-1');
    there.link('rt-1', 'rt-2');
    await there.keep('rt-0');
    // Every value on the way was read already: `newest` does not read them again.
    expect(await here.newest('rt-0')).toBe('rt-1');
    expect(await here.reread('rt-0')).toBe('rt-2');
    expect(here.current('rt-0')).toBe('rt-2');
  });

  it('keeps its own newer rotation over an older value read from the store', async () => {
    const store = memoryStore();
    const links = new RotationLinks('refresh-token', clock, store);
    links.link('rt-0', 'rt-1');
    await links.keep('rt-0');
    links.link('rt-1', 'rt-2');
    store.failing = true;
    await links.keep('rt-0');
    store.failing = false;
    // The store still says rt-1, which this process has itself rotated to rt-2.
    expect(await links.reread('rt-0')).toBe('rt-2');
  });
});
