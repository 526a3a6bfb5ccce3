import { REFRESH_BACKOFF_MS } from '../token-pool/account-record';
import { fakeAccessToken, fakeRefreshToken } from '../token-pool/testing/fixtures';
import { type PoolServices, poolSpecSetup } from '../token-pool/testing/pool-services';
import { CredentialService } from './credential.service';

describe('CredentialService', () => {
  const t = poolSpecSetup();
  const rt = fakeRefreshToken('rt');
  const credentialsOver = (pool: PoolServices) => new CredentialService(pool.leaser, pool.seeds, pool.exchanger, pool.sessions);

  it('tells the pool which AccessToken a 401 was for, so a refusal of one the account has replaced since changes nothing', async () => {
    const pool = t.newPool();
    const credentials = credentialsOver(pool);
    await pool.admin.upload([rt]);
    const use = (await credentials.acquire({ kind: 'pool' }, new Set()))!;
    await pool.refresher.refresh({ force: true });
    expect(t.server.requests).toHaveLength(2);
    await credentials.report(use, { kind: 'unauthorized' });
    expect(t.server.requests).toHaveLength(2);
    expect((await pool.readModel.list())[0]).toMatchObject({ state: 'active' });
  });

  it('draws a paid-only model from accounts whose plan may serve it, with a pool or a seed key, but not for another workspace', async () => {
    const pool = t.newPool({ randomToken: false });
    const credentials = credentialsOver(pool);
    const token = (plan: string) => fakeAccessToken({ userId: `user-${plan}`, exp: t.clock.now() + 3_600_000, plan });
    await pool.admin.upload([token('free'), token('plus')]);
    const [free, paid] = (await pool.readModel.list()).map((account) => account.id);
    const seed = await pool.seeds.createSeed('seed-bound-to-free');
    const drawn = async (credential: Parameters<CredentialService['acquire']>[0], options: { teamOverride?: string } = {}) => {
      const ids = new Set<string | undefined>();
      for (let i = 0; i < 4; i++)
        ids.add((await credentials.acquire(credential, new Set(), { ...options, paidOnly: true }))?.poolAccountId);
      return ids;
    };

    expect(await drawn({ kind: 'pool' })).toEqual(new Set([paid]));
    // A seed bound to an account known to be free goes to one that may serve the model, and stays bound.
    expect((await pool.seeds.listSeeds())[0].accountId).toBe(free);
    expect(await drawn({ kind: 'seed', seed })).toEqual(new Set([paid]));
    expect((await credentials.acquire({ kind: 'seed', seed }, new Set()))?.poolAccountId).toBe(free);
    // The accounts' plans are their own workspaces': another one asked for is chosen as any other model.
    expect(await drawn({ kind: 'pool' }, { teamOverride: '7d6c5b4a-3f2e-4d1c-9b0a-112233445566' })).toEqual(new Set([free, paid]));
  });

  it('tells the pool the plan the upstream showed, only for the pool account in its own workspace', async () => {
    const pool = t.newPool();
    const credentials = credentialsOver(pool);
    await pool.admin.upload([fakeAccessToken({ userId: 'user-a', exp: t.clock.now() + 3_600_000, plan: 'plus' })]);
    const use = (await credentials.acquire({ kind: 'pool' }, new Set()))!;
    await credentials.learnPlan({ ...use, chatgptAccountId: '7d6c5b4a-3f2e-4d1c-9b0a-112233445566' }, 'free');
    expect((await pool.readModel.list())[0]).toMatchObject({ plan: 'plus' });
    await credentials.learnPlan(use, 'free');
    expect((await pool.readModel.list())[0]).toMatchObject({ plan: 'free', state: 'active', failures: 0 });
  });

  it('leaves the store alone when the attempt shows the plan the pool already knew at the lease', async () => {
    const pool = t.newPool();
    const credentials = credentialsOver(pool);
    await pool.admin.upload([fakeAccessToken({ userId: 'user-b', exp: t.clock.now() + 3_600_000, plan: 'plus' })]);
    const use = (await credentials.acquire({ kind: 'pool' }, new Set()))!;
    expect(use.planTier).toBe('paid');
    const updates = jest.spyOn(pool.leaser, 'learnPlan');
    await credentials.learnPlan(use, 'paid');
    expect(updates).not.toHaveBeenCalled();
    await credentials.learnPlan(use, 'free');
    expect(updates).toHaveBeenCalledTimes(1);
  });

  it("carries the pool's plan for a request that names the account's own workspace, so a plan it already knew is not read again", async () => {
    const pool = t.newPool();
    const credentials = credentialsOver(pool);
    const workspace = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
    const token = fakeAccessToken({ userId: 'user-d', accountId: workspace, exp: t.clock.now() + 3_600_000, plan: 'plus' });
    await pool.admin.upload([`${token},${workspace}`]);
    const use = (await credentials.acquire({ kind: 'pool' }, new Set(), { teamOverride: workspace }))!;
    expect(use).toMatchObject({ chatgptAccountId: workspace, planTier: 'paid' });
    expect(use.otherWorkspace).toBeUndefined();
    const updates = jest.spyOn(pool.leaser, 'learnPlan');
    await credentials.learnPlan(use, 'paid');
    expect(updates).not.toHaveBeenCalled();
    await credentials.learnPlan(use, 'free');
    expect((await pool.readModel.list())[0]).toMatchObject({ plan: 'free' });
  });

  it('does not read the store to learn a plan for a request in another workspace, which never teaches the account its plan', async () => {
    const pool = t.newPool();
    const credentials = credentialsOver(pool);
    await pool.admin.upload([fakeAccessToken({ userId: 'user-c', exp: t.clock.now() + 3_600_000, plan: 'plus' })]);
    const use = (await credentials.acquire({ kind: 'pool' }, new Set(), { teamOverride: '7d6c5b4a-3f2e-4d1c-9b0a-112233445566' }))!;
    const updates = jest.spyOn(pool.leaser, 'learnPlan');
    await credentials.learnPlan(use, 'free');
    await credentials.learnPlan(use, 'paid');
    expect(updates).not.toHaveBeenCalled();
    expect((await pool.readModel.list())[0]).toMatchObject({ plan: 'plus' });
  });

  describe("the caller's own RefreshToken as the key", () => {
    const own = { kind: 'refresh_token' as const, token: fakeRefreshToken('own') };
    let issued = 0;
    beforeEach(() => {
      issued = 0;
      t.reply = () => ({
        status: 200,
        body: { access_token: fakeAccessToken({ userId: `user-own-${++issued}`, exp: t.clock.now() + 3_600_000 }) },
      });
    });
    const accessTokenNow = async (credentials: CredentialService) => (await credentials.acquire(own, new Set()))!;

    it('drops the cached AccessToken on a 401, so the next request exchanges afresh', async () => {
      const credentials = credentialsOver(t.newPool());
      const refused = await accessTokenNow(credentials);
      expect((await accessTokenNow(credentials)).accessToken).toBe(refused.accessToken);
      await credentials.report(refused, { kind: 'unauthorized' });
      const renewed = await accessTokenNow(credentials);
      expect(renewed.accessToken).not.toBe(refused.accessToken);
      expect(t.server.requests).toHaveLength(2);
      // A late 401 for the refused one changes nothing.
      await credentials.report(refused, { kind: 'unauthorized' });
      expect((await accessTokenNow(credentials)).accessToken).toBe(renewed.accessToken);
      expect(t.server.requests).toHaveLength(2);
    });

    it('exchanges again for fresh AccessTokens refused in a row only 1 min, 5 min, 30 min apart, and starts over after a success', async () => {
      const credentials = credentialsOver(t.newPool());
      const refuseCurrent = async () => credentials.report(await accessTokenNow(credentials), { kind: 'unauthorized' });
      await refuseCurrent();
      expect(t.server.requests).toHaveLength(1);
      await refuseCurrent();
      await refuseCurrent();
      expect(t.server.requests).toHaveLength(2);
      for (const [index, backOff] of REFRESH_BACKOFF_MS.entries()) {
        t.clock.advance(backOff - 1);
        await refuseCurrent();
        expect(t.server.requests).toHaveLength(2 + index);
        t.clock.advance(1);
        await refuseCurrent();
        await accessTokenNow(credentials);
        expect(t.server.requests).toHaveLength(3 + index);
      }
      await credentials.report(await accessTokenNow(credentials), { kind: 'success' });
      await refuseCurrent();
      await accessTokenNow(credentials);
      expect(t.server.requests).toHaveLength(6);
    });
  });
});
