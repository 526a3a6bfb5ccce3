import type { AccountRecord, SeedRecord } from '../pool.types';
import { StoreUnavailableError } from '../../common/errors/store-unavailable.error';
import type { AccountStore } from './account-store';

/**
 * A store under test: `open()` gives a new store instance over the same data (a restart, or another
 * instance), `cleanup()` deletes the data.
 */
export interface StoreHarness {
  open(): Promise<AccountStore>;
  /** Takes the store's backend away under it (Redis connection dropped, data folder deleted). */
  makeUnavailable(store: AccountStore): Promise<void>;
  cleanup(): Promise<void>;
}

function account(id: string, addedAt: number, extra: Partial<AccountRecord> = {}): AccountRecord {
  return { id, kind: 'access_token', token: `token-${id}`, state: 'active', rateLimitStrikes: 0, failures: 0, addedAt, ...extra };
}

function seed(value: string, accountId: string | null): SeedRecord {
  return { seed: value, accountId, conversations: [], createdAt: 1 };
}

/** The behaviour every `AccountStore` adapter must have; run by each adapter's spec. */
export function describeAccountStoreContract(name: string, createHarness: () => Promise<StoreHarness>): void {
  describe(`${name} (AccountStore contract)`, () => {
    let harness: StoreHarness;
    let store: AccountStore;
    const opened: AccountStore[] = [];
    const openStore = async () => {
      const instance = await harness.open();
      opened.push(instance);
      return instance;
    };

    beforeEach(async () => {
      harness = await createHarness();
      store = await openStore();
    });

    afterEach(async () => {
      for (const instance of opened.splice(0)) await instance.close();
      await harness.cleanup();
    });

    it('answers a ping while it is up', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
      expect(['file', 'redis']).toContain(store.kind);
    });

    it('rejects a ping with StoreUnavailableError once its backend is gone', async () => {
      await store.addAccounts([account('a', 1)]);
      await harness.makeUnavailable(store);
      await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
    });

    it('starts empty', async () => {
      expect(await store.listAccounts()).toEqual([]);
      expect(await store.listSeeds()).toEqual([]);
      expect(await store.getAccount('nope')).toBeNull();
      expect(await store.getSeed('nope')).toBeNull();
      expect(await store.getMeta('nope')).toBeNull();
    });

    it('adds a batch, lists it by addedAt then id, and keeps already stored ids as they are', async () => {
      await store.addAccounts([account('b', 2), account('a', 2), account('c', 1)]);
      expect((await store.listAccounts()).map((record) => record.id)).toEqual(['c', 'a', 'b']);
      await store.addAccounts([account('a', 9, { token: 'other' }), account('d', 3)]);
      expect((await store.listAccounts()).map((record) => record.id)).toEqual(['c', 'a', 'b', 'd']);
      expect(await store.getAccount('a')).toEqual(account('a', 2));
    });

    it('persists accounts, seeds and meta across a restart', async () => {
      await store.addAccounts([account('a', 1, { chatgptAccountId: 'team-1' })]);
      await store.updateAccount('a', (current) => ({ ...current, plan: 'free' }));
      await store.updateSeed('my-seed', () => seed('my-seed', 'a'));
      await store.setMeta('last', '42');
      const again = await openStore();
      expect(await again.listAccounts()).toEqual([account('a', 1, { chatgptAccountId: 'team-1', plan: 'free' })]);
      expect(await again.getSeed('my-seed')).toEqual(seed('my-seed', 'a'));
      expect(await again.getMeta('last')).toBe('42');
    });

    it('forgets a meta value set with a TTL once its time is up, and keeps one set again without a TTL', async () => {
      await store.setMeta('short', 'a', 1);
      await store.setMeta('long', 'b', 3_600_000);
      await store.setMeta('made-lasting', 'c', 1);
      await store.setMeta('made-lasting', 'd');
      // The store's own clock (Redis's, or the file store's) ends the 1 ms: polled, never timed.
      while ((await store.getMeta('short')) !== null) await new Promise((resolve) => setTimeout(resolve, 5));
      // A later write drops what has expired, and the file keeps the others with their expiry.
      await store.setMeta('other', 'e');
      const again = await openStore();
      for (const instance of [store, again]) {
        expect(await instance.getMeta('short')).toBeNull();
        expect(await instance.getMeta('long')).toBe('b');
        expect(await instance.getMeta('made-lasting')).toBe('d');
      }
    });

    it('updates one account and returns what is stored', async () => {
      await store.addAccounts([account('a', 1)]);
      const updated = await store.updateAccount('a', (current) => ({ ...current, state: 'disabled', stateReason: 'banned' }));
      expect(updated).toMatchObject({ id: 'a', state: 'disabled', stateReason: 'banned' });
      expect(await store.getAccount('a')).toMatchObject({ state: 'disabled', stateReason: 'banned' });
      expect(await store.updateAccount('a', () => undefined)).toMatchObject({ state: 'disabled' });
      expect(await store.updateAccount('missing', (current) => current)).toBeNull();
    });

    it('applies concurrent updates one after another, none lost', async () => {
      await store.addAccounts([account('a', 1)]);
      await Promise.all(
        Array.from({ length: 20 }, () => store.updateAccount('a', (current) => ({ ...current, failures: current.failures + 1 }))),
      );
      expect((await store.getAccount('a'))?.failures).toBe(20);
    });

    it('removes one account or all of them', async () => {
      await store.addAccounts([account('a', 1), account('b', 2), account('c', 3)]);
      expect(await store.removeAccount('b')).toBe(true);
      expect(await store.removeAccount('b')).toBe(false);
      expect(await store.clearAccounts()).toBe(2);
      expect(await store.listAccounts()).toEqual([]);
      expect(await store.clearAccounts()).toBe(0);
    });

    it('counts the round-robin cursor up', async () => {
      const first = await store.nextCursor();
      expect(await store.nextCursor()).toBe(first + 1);
      expect(await store.nextCursor()).toBe(first + 2);
    });

    it('creates, updates, lists and removes seeds', async () => {
      expect(await store.updateSeed('s1', (current) => (current ? undefined : seed('s1', 'a')))).toEqual(seed('s1', 'a'));
      expect(await store.updateSeed('s1', (current) => (current ? undefined : seed('s1', 'b')))).toEqual(seed('s1', 'a'));
      await store.updateSeed('s1', (current) => (current ? { ...current, accountId: 'c', conversations: ['conv-1'] } : undefined));
      await store.updateSeed('s2', () => seed('s2', null));
      expect(await store.getSeed('s1')).toEqual({ ...seed('s1', 'c'), conversations: ['conv-1'] });
      expect((await store.listSeeds()).map((record) => record.seed).sort()).toEqual(['s1', 's2']);
      expect(await store.countSeeds()).toBe(2);
      expect(await store.removeSeed('s1')).toBe(true);
      expect(await store.countSeeds()).toBe(1);
      expect(await store.removeSeed('s1')).toBe(false);
      expect(await store.updateSeed('gone', () => undefined)).toBeNull();
    });

    it('keeps seeds with characters that need care', async () => {
      const odd = 'sëed with spaces/%25:,"quotes"';
      await store.updateSeed(odd, () => seed(odd, 'a'));
      const again = await openStore();
      expect(await again.getSeed(odd)).toEqual(seed(odd, 'a'));
    });

    it('keeps seeds named like properties every object has', async () => {
      // A seed is any visible string a user signs in with under AUTO_SEED (or an admin picks).
      for (const name of ['__proto__', 'constructor', 'hasOwnProperty']) await store.updateSeed(name, () => seed(name, 'a'));
      const again = await openStore();
      for (const name of ['__proto__', 'constructor', 'hasOwnProperty']) expect(await again.getSeed(name)).toEqual(seed(name, 'a'));
      expect(await again.countSeeds()).toBe(3);
    });

    it('gives a lock to one holder at a time', async () => {
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const first = store.withLock('job', 5_000, async () => {
        await held;
        return 'first';
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await store.withLock('job', 5_000, async () => 'second')).toEqual({ acquired: false });
      expect(await store.withLock('other-job', 5_000, async () => 'other')).toEqual({ acquired: true, value: 'other' });
      const waiting = store.withLock('job', 5_000, async () => 'waited', { waitMs: 2_000 });
      release();
      expect(await first).toEqual({ acquired: true, value: 'first' });
      expect(await waiting).toEqual({ acquired: true, value: 'waited' });
    });

    it('releases a lock when the holder throws', async () => {
      await expect(store.withLock('job', 5_000, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
      expect(await store.withLock('job', 5_000, async () => 'next')).toEqual({ acquired: true, value: 'next' });
    });
  });
}
