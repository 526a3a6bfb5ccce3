import { MAX_SEED_CONVERSATIONS, MAX_SEED_FILES } from './pool.types';
import { isServerSecret, seedIdFor } from './seed-registry';
import type { AccountStore } from './stores/account-store';
import { FileAccountStore } from './stores/file-account-store';
import { fakeAccessToken } from './testing/fixtures';
import { poolSpecSetup } from './testing/pool-services';
import { redisHarness } from './testing/redis-harness';

describe('SeedRegistry', () => {
  const t = poolSpecSetup();
  const { newPool, accessToken, idsOf } = t;

  describe('seeds', () => {
    it('keeps a seed on one account while it is active, then moves it, and remembers that across restarts', async () => {
      const pool = newPool({ randomToken: true });
      await pool.admin.upload([accessToken('a'), accessToken('b'), accessToken('c')]);
      const first = (await pool.seeds.leaseForSeed('my-seed')) as { accountId: string };
      for (let i = 0; i < 10; i++) expect(await pool.seeds.leaseForSeed('my-seed')).toMatchObject({ accountId: first.accountId });

      await pool.leaser.report(first.accountId, { kind: 'forbidden' });
      const moved = (await pool.seeds.leaseForSeed('my-seed')) as { accountId: string };
      expect(moved.accountId).not.toBe(first.accountId);
      for (let i = 0; i < 10; i++) expect(await pool.seeds.leaseForSeed('my-seed')).toMatchObject({ accountId: moved.accountId });
      await pool.admin.restore(first.accountId);
      expect(await pool.seeds.leaseForSeed('my-seed')).toMatchObject({ accountId: moved.accountId });

      const restarted = newPool({ randomToken: true }, new FileAccountStore({ dataDir: t.dataDir }));
      expect(await restarted.seeds.leaseForSeed('my-seed')).toMatchObject({ accountId: moved.accountId });
      expect(await restarted.seeds.listSeeds()).toEqual([
        { id: seedIdFor('my-seed'), maskedSeed: 'my…(7)', accountId: moved.accountId, conversations: 0 },
      ]);
    });

    it('mints no new seed at sign-in once there are MAX_SEEDS, while the seeds it has keep working', async () => {
      const pool = newPool({ maxSeeds: 2 });
      await pool.admin.upload([accessToken('a')]);
      const [id] = await idsOf(pool);
      await pool.seeds.createSeed('admin-made-seed');
      expect(await pool.seeds.leaseForSeed('typed-at-sign-in')).toMatchObject({ accountId: id });
      expect(await pool.seeds.leaseForSeed('one-too-many')).toBe('seed_limit');
      expect(await pool.seeds.leaseForSeed('typed-at-sign-in')).toMatchObject({ accountId: id });
      expect((await pool.seeds.listSeeds()).map((seed) => seed.maskedSeed)).toHaveLength(2);
      // The admin's own are never refused.
      await pool.seeds.createSeed('admin-made-later');
      expect(await pool.seeds.leaseForSeed('admin-made-later')).toMatchObject({ accountId: id });
    });

    it('moves a seed off a rate-limited or removed account', async () => {
      const pool = newPool({ randomToken: false });
      await pool.admin.upload([accessToken('a'), accessToken('b'), accessToken('c')]);
      const first = (await pool.seeds.leaseForSeed('s')) as { accountId: string };
      await pool.leaser.report(first.accountId, { kind: 'rate_limited' });
      const second = (await pool.seeds.leaseForSeed('s')) as { accountId: string };
      expect(second.accountId).not.toBe(first.accountId);
      await pool.admin.remove(second.accountId);
      const third = (await pool.seeds.leaseForSeed('s')) as { accountId: string };
      expect([first.accountId, second.accountId]).not.toContain(third.accountId);
    });

    it('serves a retry from another account without moving the seed', async () => {
      const pool = newPool();
      await pool.admin.upload([accessToken('a'), accessToken('b')]);
      const first = (await pool.seeds.leaseForSeed('s')) as { accountId: string };
      const retry = (await pool.seeds.leaseForSeed('s', { exclude: new Set([first.accountId]) })) as { accountId: string };
      expect(retry.accountId).not.toBe(first.accountId);
      expect(await pool.seeds.leaseForSeed('s')).toMatchObject({ accountId: first.accountId });
      expect(await pool.seeds.leaseForSeed('s', { exclude: new Set(await idsOf(pool)) })).toBeNull();
    });

    it('sends a paid-only model of a seed bound to a known-free account to one whose plan may serve it, and keeps the seed bound', async () => {
      const pool = newPool({ randomToken: false });
      const token = (label: string, plan: string) => fakeAccessToken({ userId: `user-${label}`, exp: t.clock.now() + 3_600_000, plan });
      await pool.admin.upload([token('free', 'free'), token('free-too', 'free'), token('paid', 'plus')]);
      const [free, , paid] = await idsOf(pool);
      await pool.seeds.createSeed('seed-on-free');
      expect((await pool.seeds.listSeeds())[0].accountId).toBe(free);

      expect(await pool.seeds.leaseForSeed('seed-on-free', { paidOnly: true })).toMatchObject({ accountId: paid });
      expect(await pool.seeds.leaseForSeed('seed-on-free')).toMatchObject({ accountId: free });
      // A continuation runs where its conversation lives: on the seed's account, whatever the pool thinks of its plan.
      expect(await pool.seeds.leaseForSeed('seed-on-free', { paidOnly: true, continuesConversation: true })).toMatchObject({
        accountId: free,
      });
      // With no account left that may serve the model, the seed's own is tried rather than another free one.
      expect(await pool.seeds.leaseForSeed('seed-on-free', { paidOnly: true, exclude: new Set([paid]) })).toMatchObject({
        accountId: free,
      });
      expect((await pool.seeds.listSeeds())[0].accountId).toBe(free);
    });

    it('gives null, not a wrong answer, while the pool is empty, and binds the seed once accounts arrive', async () => {
      const pool = newPool();
      expect(await pool.seeds.leaseForSeed('early')).toBeNull();
      await pool.admin.upload([accessToken('a')]);
      expect(await pool.seeds.leaseForSeed('early')).toMatchObject({ accountId: (await idsOf(pool))[0] });
    });

    // The API answered 201 and the dashboard "Seed ready" for a seed that was there all along, its user long using it.
    it("says whether a seed was created or already the admin's (a browser-minted one becomes the admin's: created)", async () => {
      const pool = newPool({ autoSeed: true });
      await pool.admin.upload([accessToken('a')]);
      expect(await pool.seeds.createSeedReporting(' kept-seed-1 ')).toEqual({ seed: 'kept-seed-1', created: true });
      expect(await pool.seeds.createSeedReporting('kept-seed-1')).toEqual({ seed: 'kept-seed-1', created: false });
      await pool.seeds.leaseForSeed('minted-at-sign-in');
      expect(await pool.seeds.createSeedReporting('minted-at-sign-in')).toEqual({ seed: 'minted-at-sign-in', created: true });
      expect(await pool.seeds.createSeedReporting('minted-at-sign-in')).toEqual({ seed: 'minted-at-sign-in', created: false });
      expect(await pool.seeds.listSeeds()).toHaveLength(2);
    });

    it('with AUTO_SEED=false accepts only seeds an admin created', async () => {
      const pool = newPool({ autoSeed: false });
      await pool.admin.upload([accessToken('a')]);
      expect(await pool.seeds.leaseForSeed('unknown')).toBe('invalid_seed');
      expect(await pool.seeds.createSeed('panel-user')).toBe('panel-user');
      expect(await pool.seeds.leaseForSeed('panel-user')).toMatchObject({ accountId: (await idsOf(pool))[0] });
      const generated = await pool.seeds.createSeed();
      expect(generated).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect(await pool.seeds.leaseForSeed(generated)).not.toBe('invalid_seed');
      expect(await pool.seeds.listSeeds()).toHaveLength(2);
      expect(await pool.seeds.removeSeed('panel-user')).toBe(true);
      expect(await pool.seeds.removeSeed('panel-user')).toBe(false);
      expect(await pool.seeds.leaseForSeed('panel-user')).toBe('invalid_seed');
    });

    it('refuses seeds that are real credentials or pool keys', async () => {
      const pool = newPool({ authorization: ['pool-key-1'] });
      await expect(pool.seeds.createSeed(accessToken('a'))).rejects.toMatchObject({ code: 'invalid_seed' });
      await expect(pool.seeds.createSeed('pool-key-1')).rejects.toMatchObject({ code: 'invalid_seed' });
    });

    it('refuses a seed that is short, not a header value, or the admin secret', async () => {
      const pool = newPool({ adminKey: 'admin-secret-1' });
      for (const seed of ['ab', 'abcdefgh\r\nX: y', 'séedséedséed', 'has a space', 'admin-secret-1', 'x'.repeat(257)])
        await expect(pool.seeds.createSeed(seed)).rejects.toMatchObject({ status: 400, code: 'invalid_seed' });
      expect(await pool.seeds.listSeeds()).toEqual([]);
    });

    it('tracks the conversations a seed created', async () => {
      const pool = newPool();
      await pool.seeds.createSeed('seed-s-1');
      await pool.seeds.recordSeedConversation('seed-s-1', 'c1');
      await pool.seeds.recordSeedConversation('seed-s-1', 'c2');
      await pool.seeds.recordSeedConversation('seed-s-1', 'c1');
      expect(await pool.seeds.seedConversations('seed-s-1')).toEqual(['c1', 'c2']);
      expect(await pool.seeds.seedConversations('unknown')).toEqual([]);
      expect((await pool.seeds.listSeeds())[0]).toMatchObject({ conversations: 2 });
    });

    describe.each(['file', 'redis'])('on the %s store', (kind) => {
      let store: AccountStore;
      let cleanup: () => Promise<void>;
      beforeEach(async () => {
        if (kind === 'file') {
          store = t.store;
          cleanup = () => Promise.resolve();
          return;
        }
        const harness = await redisHarness();
        store = await harness.open();
        cleanup = harness.cleanup;
      });
      afterEach(() => cleanup());

      it(`keeps a seed's newest ${MAX_SEED_CONVERSATIONS} conversations, dropping the oldest`, async () => {
        const pool = newPool({}, store);
        await pool.seeds.createSeed('seed-busy');
        const older = Array.from({ length: MAX_SEED_CONVERSATIONS }, (_, index) => `c${MAX_SEED_CONVERSATIONS - index}`);
        await store.updateSeed('seed-busy', (current) => (current ? { ...current, conversations: older } : undefined));

        await pool.seeds.recordSeedConversation('seed-busy', 'c-new');
        const kept = await pool.seeds.seedConversations('seed-busy');
        expect({ length: kept.length, first: kept[0], last: kept.at(-1) }).toEqual({
          length: MAX_SEED_CONVERSATIONS,
          first: 'c-new',
          last: 'c2',
        });
        expect(await pool.seeds.ownsConversation(seedIdFor('seed-busy'), 'c1')).toBe(false);
        // One used again moves to the front, and nothing else goes.
        await pool.seeds.recordSeedConversation('seed-busy', 'c2');
        const again = await pool.seeds.seedConversations('seed-busy');
        expect({ length: again.length, first: again.slice(0, 2), last: again.at(-1) }).toEqual({
          length: MAX_SEED_CONVERSATIONS,
          first: ['c2', 'c-new'],
          last: 'c3',
        });
      });

      it(`keeps the files each seed was given (its newest ${MAX_SEED_FILES}), apart from every other seed's`, async () => {
        const pool = newPool({}, store);
        await pool.seeds.createSeed('seed-files-a');
        await pool.seeds.createSeed('seed-files-b');
        const [a, b] = [seedIdFor('seed-files-a'), seedIdFor('seed-files-b')];
        await pool.seeds.recordFilesForSeedId(a, ['file-One00000001', 'file-Two00000002']);
        await pool.seeds.recordFilesForSeedId(b, ['file-Three0000003']);
        await pool.seeds.recordFilesForSeedId('seed-unknown', ['file-Four00000004']);
        expect(await pool.seeds.ownsFile(a, 'file-One00000001')).toBe(true);
        expect(await pool.seeds.ownsFile(a, 'FILE-ONE00000001')).toBe(false);
        expect(await pool.seeds.ownsFile(a, 'file-Three0000003')).toBe(false);
        expect(await pool.seeds.ownsFile(b, 'file-Three0000003')).toBe(true);
        expect(await pool.seeds.ownsFile('seed-unknown', 'file-Four00000004')).toBe(false);
        // The same store, as another instance or a restart reads it.
        const again = newPool({}, store);
        expect(await again.seeds.ownsFile(a, 'file-Two00000002')).toBe(true);
        const many = Array.from({ length: MAX_SEED_FILES }, (_, index) => `file-Many${String(index).padStart(8, '0')}`);
        await again.seeds.recordFilesForSeedId(a, many);
        expect(await again.seeds.ownsFile(a, 'file-Many00000000')).toBe(true);
        expect(await again.seeds.ownsFile(a, 'file-One00000001')).toBe(false);
        expect((await store.getSeed('seed-files-a'))?.files).toHaveLength(MAX_SEED_FILES);
      });
    });

    it('keeps the files of a seed across restarts', async () => {
      const pool = newPool();
      await pool.seeds.createSeed('seed-one');
      await pool.seeds.recordFilesForSeedId(seedIdFor('seed-one'), ['file-Kept00000001']);
      const restarted = newPool({}, new FileAccountStore({ dataDir: t.dataDir }));
      expect(await restarted.seeds.ownsFile(seedIdFor('seed-one'), 'file-Kept00000001')).toBe(true);
    });

    it('tracks them by the seed id too, as browser sessions know only that, and across restarts', async () => {
      const pool = newPool();
      await pool.seeds.createSeed('seed-one');
      await pool.seeds.createSeed('seed-two');
      expect(await pool.seeds.recordConversationForSeedId(seedIdFor('seed-one'), 'AAAA-1')).toBe(true);
      expect(await pool.seeds.recordConversationForSeedId('seed-unknown', 'c9')).toBe(false);
      expect(await pool.seeds.seedConversations('seed-one')).toEqual(['AAAA-1']);
      expect(await pool.seeds.ownsConversation(seedIdFor('seed-one'), 'aaaa-1')).toBe(true);
      expect(await pool.seeds.ownsConversation(seedIdFor('seed-two'), 'AAAA-1')).toBe(false);
      const restarted = newPool({}, new FileAccountStore({ dataDir: t.dataDir }));
      expect(await restarted.seeds.conversationsOfSeedId(seedIdFor('seed-one'))).toEqual(['AAAA-1']);
    });
  });
});

describe('isServerSecret', () => {
  const config = { authorization: ['pool-key-one'], adminKey: 'the-admin-key', apiPrefix: 'the-api-prefix' };

  it('names a pool key, the admin secret and API_PREFIX, and nothing else', () => {
    expect(['pool-key-one', 'the-admin-key', 'the-api-prefix'].map((value) => isServerSecret(value, config))).toEqual([true, true, true]);
    expect(isServerSecret('shared-seed-1', config)).toBe(false);
    expect(isServerSecret('shared-seed-1', { authorization: [] })).toBe(false);
  });
});
