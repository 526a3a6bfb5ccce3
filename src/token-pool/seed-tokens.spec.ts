import { maskSecret } from '../common/util/secrets';
import { SeedTokens } from './seed-tokens';
import { fakeAccessToken, fakeRefreshToken } from './testing/fixtures';
import { poolSpecSetup } from './testing/pool-services';

const HOUR = 3_600_000;
const WORKSPACE = '2f7b8a4e-1c3d-4e5f-8a9b-0c1d2e3f4a5b';

describe('SeedTokens', () => {
  const t = poolSpecSetup();
  const { clock, newPool, accessToken } = t;

  function seedTokensOf(pool: ReturnType<typeof newPool>): SeedTokens {
    return new SeedTokens(t.store, pool.admin, pool.seeds);
  }

  it('answers the newest value of a RefreshToken that rotated since the panel bound it', async () => {
    const pool = newPool();
    const seedTokens = seedTokensOf(pool);
    const bound = (await seedTokens.bind('panel-seed-rt', fakeRefreshToken('first'))) as { accountId: string };
    await t.store.updateAccount(bound.accountId, (current) => ({ ...current, token: fakeRefreshToken('rotated') }));
    expect(await seedTokens.tokenOf('panel-seed-rt')).toBe(maskSecret(fakeRefreshToken('rotated')));
    // Bound again with the value it was given first: still that account, not a second one.
    expect(await seedTokens.bind('panel-seed-rt', fakeRefreshToken('first'))).toEqual(bound);
    expect(await t.store.listAccounts()).toHaveLength(1);
  });

  it('keeps the workspace of a Team credential in what it answers', async () => {
    const pool = newPool();
    const seedTokens = seedTokensOf(pool);
    await seedTokens.bind('panel-seed-team', `${fakeRefreshToken('team')},${WORKSPACE}`);
    expect(await seedTokens.tokenOf('panel-seed-team')).toBe(`${maskSecret(fakeRefreshToken('team'))},${WORKSPACE}`);
    expect(await seedTokens.tokenOf('panel-seed-unknown')).toBeUndefined();
  });

  it('binds a fresh AccessToken of a user the pool serves already to that account', async () => {
    const pool = newPool();
    const seedTokens = seedTokensOf(pool);
    await pool.admin.upload([accessToken('alice')]);
    const [existing] = await t.store.listAccounts();
    const again = fakeAccessToken({ userId: 'user-alice', exp: clock.now() + 2 * HOUR });
    expect(await seedTokens.bind('panel-seed-alice', again)).toEqual({ accountId: existing.id });
    expect(await seedTokens.tokenOf('panel-seed-alice')).toBe(maskSecret(existing.token));
  });

  it('keeps the conversations of a seed it binds again, and makes a sign-in seed the admin one', async () => {
    const pool = newPool({ autoSeed: true });
    const seedTokens = seedTokensOf(pool);
    await pool.admin.upload([accessToken('a')]);
    await pool.seeds.leaseForSeed('typed-at-sign-in');
    await pool.seeds.recordSeedConversation('typed-at-sign-in', 'conv-1');
    expect(await pool.seeds.adminCreated('typed-at-sign-in')).toBe(false);
    const bound = (await seedTokens.bind('typed-at-sign-in', fakeRefreshToken('other'))) as { accountId: string };
    expect(await t.store.getSeed('typed-at-sign-in')).toMatchObject({
      accountId: bound.accountId,
      conversations: ['conv-1'],
      createdBy: 'admin',
    });
  });

  it('refuses what is no credential and an expired AccessToken, storing nothing', async () => {
    const pool = newPool();
    const seedTokens = seedTokensOf(pool);
    expect(await seedTokens.bind('panel-seed-bad', 'no-credential')).toBe('invalid_token');
    expect(await seedTokens.bind('panel-seed-bad', `#${'x'.repeat(44)}`)).toBe('invalid_token');
    expect(await seedTokens.bind('panel-seed-bad', fakeAccessToken({ userId: 'user-old', exp: clock.now() - 1 }))).toBe('expired_token');
    expect(await t.store.listAccounts()).toEqual([]);
    expect(await t.store.listSeeds()).toEqual([]);
  });

  it('refuses a seed outside the seed rules before the token joins the pool', async () => {
    const pool = newPool();
    const seedTokens = seedTokensOf(pool);
    await expect(seedTokens.bind('short', fakeRefreshToken('kept-out'))).rejects.toMatchObject({ code: 'invalid_seed' });
    await expect(seedTokens.bind(fakeRefreshToken('as-seed'), fakeRefreshToken('kept-out'))).rejects.toMatchObject({
      code: 'invalid_seed',
    });
    expect(await t.store.listAccounts()).toEqual([]);
    expect(await t.store.listSeeds()).toEqual([]);
  });
});
