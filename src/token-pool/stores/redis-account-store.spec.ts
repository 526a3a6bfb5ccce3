import { Logger } from '@nestjs/common';
import { StoreUnavailableError } from '../../common/errors/store-unavailable.error';
import { testConfig } from '../../config/test-config';
import { FakeClock } from '../testing/fake-clock';
import { poolServices } from '../testing/pool-services';
import { redisHarness } from '../testing/redis-harness';
import { describeAccountStoreContract } from './account-store.contract';
import type { RedisAccountStore } from './redis-account-store';

describeAccountStoreContract('RedisAccountStore', redisHarness);

describe('RedisAccountStore across instances', () => {
  const record = (id: string) => ({
    id,
    kind: 'access_token' as const,
    token: `t-${id}`,
    state: 'active' as const,
    rateLimitStrikes: 0,
    failures: 0,
    addedAt: 1,
  });
  let harness: Awaited<ReturnType<typeof redisHarness>>;
  let a: RedisAccountStore;
  let b: RedisAccountStore;

  beforeEach(async () => {
    harness = await redisHarness();
    a = await harness.open();
    b = await harness.open();
  });
  afterEach(async () => {
    await a.close();
    await b.close();
    await harness.cleanup();
  });

  it('shows a state change made by one instance to the other at once', async () => {
    await a.addAccounts([record('x')]);
    expect(await b.getAccount('x')).toMatchObject({ state: 'active' });
    await b.updateAccount('x', (current) => ({ ...current, state: 'disabled' }));
    expect(await a.getAccount('x')).toMatchObject({ state: 'disabled' });
    expect((await a.listAccounts())[0].state).toBe('disabled');
  });

  it('answers an update that keeps losing to other writers as a store that cannot serve now (a 503), not a plain error', async () => {
    await a.addAccounts([{ ...record('x'), state: 'disabled' as const }]);
    const pool = poolServices(a, testConfig(), new FakeClock());
    // Every compare-and-set finds the value changed since it was read, as under a storm of writers.
    const compareAndSet = jest.spyOn(harness.connectionOf(a).client, 'eval').mockResolvedValue(0);
    try {
      const restoring = pool.admin.restore('x');
      await expect(restoring).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(restoring).rejects.toThrow(`too many concurrent updates of x in ${harness.prefix}accounts`);
      expect(compareAndSet).toHaveBeenCalledTimes(50);
    } finally {
      compareAndSet.mockRestore();
      pool.close();
    }
    expect(await b.getAccount('x')).toMatchObject({ state: 'disabled' });
  });

  it('loses no concurrent update made through different instances', async () => {
    await a.addAccounts([record('x')]);
    await Promise.all(
      Array.from({ length: 30 }, (_, index) =>
        (index % 2 ? a : b).updateAccount('x', (current) => ({ ...current, failures: current.failures + 1 })),
      ),
    );
    expect((await a.getAccount('x'))?.failures).toBe(30);
  });

  it('loses no update and gives none up when hundreds of requests through two instances change one account at once', async () => {
    await a.addAccounts([record('x')]);
    const updates = await Promise.allSettled(
      Array.from({ length: 200 }, (_, index) =>
        (index % 2 ? a : b).updateAccount('x', (current) => ({ ...current, failures: current.failures + 1 })),
      ),
    );
    expect(updates.filter((update) => update.status === 'rejected')).toEqual([]);
    expect((await a.getAccount('x'))?.failures).toBe(200);
  });

  it("lets one instance's writers of an account take turns instead of colliding: each writes once", async () => {
    await a.addAccounts([record('x'), record('y')]);
    const writes = jest.spyOn(harness.connectionOf(a).client, 'eval');
    await Promise.all(
      Array.from({ length: 100 }, (_, index) =>
        a.updateAccount(index % 4 ? 'x' : 'y', (current) => ({ ...current, failures: current.failures + 1 })),
      ),
    );
    expect(writes).toHaveBeenCalledTimes(100);
    expect([(await a.getAccount('x'))?.failures, (await a.getAccount('y'))?.failures]).toEqual([75, 25]);
  });

  it('shares one round-robin cursor', async () => {
    const values = [await a.nextCursor(), await b.nextCursor(), await a.nextCursor()];
    expect(values).toEqual([values[0], values[0] + 1, values[0] + 2]);
  });

  it('holds a lock across instances, and only the holder can release it', async () => {
    let release!: () => void;
    const held = a.withLock('job', 5_000, () => new Promise<string>((resolve) => (release = () => resolve('a'))));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(await b.withLock('job', 5_000, async () => 'b')).toEqual({ acquired: false });
    release();
    expect(await held).toEqual({ acquired: true, value: 'a' });
    expect(await b.withLock('job', 5_000, async () => 'b')).toEqual({ acquired: true, value: 'b' });
  });

  it('lets a lock go once Redis answers again when the release found it away', async () => {
    const evaluate = jest.spyOn(harness.connectionOf(a).client, 'eval');
    const held = await a.withLock('blip', 60_000, async () => {
      evaluate.mockRejectedValueOnce(new Error('Connection is closed.'));
      return 'done';
    });
    expect(held).toEqual({ acquired: true, value: 'done' });
    expect(await b.withLock('blip', 60_000, async () => 'b')).toEqual({ acquired: true, value: 'b' });
  });

  it('lets go of a lock whose taking went unanswered, once Redis runs it after all (a stall)', async () => {
    const client = harness.connectionOf(a).client;
    const set = client.set.bind(client) as (...args: unknown[]) => Promise<unknown>;
    // As a stalled Redis does: the command times out here, and the server runs it once it answers again.
    jest.spyOn(client, 'set').mockImplementationOnce(async (...args: unknown[]) => {
      await set(...args);
      throw new Error('Command timed out');
    });
    // And Redis stays away a while longer: the release is tried until it answers.
    const evaluate = jest.spyOn(client, 'eval');
    for (let tries = 0; tries < 5; tries++) evaluate.mockRejectedValueOnce(new Error('Connection is closed.'));
    await expect(a.withLock('stalled', 60_000, async () => 'a')).rejects.toBeInstanceOf(StoreUnavailableError);
    // Without letting go, the lock would hold off every instance for its whole TTL.
    expect(await b.withLock('stalled', 60_000, async () => 'b', { waitMs: 10_000 })).toEqual({ acquired: true, value: 'b' });
  });

  it('keeps a lock past its TTL while the holder still runs', async () => {
    const held = a.withLock('slow', 1_000, () => new Promise((resolve) => setTimeout(() => resolve('done'), 1_800)));
    await new Promise((resolve) => setTimeout(resolve, 1_400));
    expect(await b.withLock('slow', 1_000, async () => 'b')).toEqual({ acquired: false });
    expect(await held).toEqual({ acquired: true, value: 'done' });
  });

  it('says so when a lock it holds expired before it could be renewed', async () => {
    const warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const client = harness.connectionOf(a).client;
      const held = await a.withLock('lost-lock', 300, async () => {
        // As when Redis was away past the TTL: the lock is gone when the renewal comes.
        await client.del(...(await client.keys('*lost-lock')));
        const deadline = Date.now() + 30_000; // a generous wait, not a speed claim
        while (!warnings.mock.calls.some(([message]) => String(message).startsWith('Lost lock lost-lock')) && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 20));
        return 'done';
      });
      expect(held).toEqual({ acquired: true, value: 'done' });
      expect(warnings.mock.calls.map(([message]) => String(message))).toContain(
        'Lost lock lost-lock: it expired before it could be renewed, and another instance may take it',
      );
    } finally {
      warnings.mockRestore();
    }
  });

  it('fails every call with StoreUnavailableError while Redis is away, a meta read included', async () => {
    await a.addAccounts([record('x')]);
    await harness.makeUnavailable(a);
    const calls: Record<string, () => Promise<unknown>> = {
      listAccounts: () => a.listAccounts(),
      getAccount: () => a.getAccount('x'),
      addAccounts: () => a.addAccounts([record('y')]),
      updateAccount: () => a.updateAccount('x', (current) => ({ ...current, failures: 1 })),
      removeAccount: () => a.removeAccount('x'),
      clearAccounts: () => a.clearAccounts(),
      nextCursor: () => a.nextCursor(),
      listSeeds: () => a.listSeeds(),
      countSeeds: () => a.countSeeds(),
      getSeed: () => a.getSeed('s'),
      updateSeed: () => a.updateSeed('s', () => undefined),
      removeSeed: () => a.removeSeed('s'),
      getMeta: () => a.getMeta('k'),
      setMeta: () => a.setMeta('k', 'v'),
      'setMeta with a TTL': () => a.setMeta('k', 'v', 1_000),
      withLock: () => a.withLock('away', 1_000, async () => 'a'),
    };
    for (const [name, call] of Object.entries(calls)) {
      const failure = await call().then(
        () => 'resolved',
        (error: Error) => error.name,
      );
      expect({ name, failure }).toEqual({ name, failure: 'StoreUnavailableError' });
    }
  });

  it('writes an uploaded batch in one step', async () => {
    await a.addAccounts(Array.from({ length: 200 }, (_, index) => record(`id-${String(index).padStart(3, '0')}`)));
    expect(await b.listAccounts()).toHaveLength(200);
  });
});
