import { fakeRefreshToken } from './testing/fixtures';
import { type PoolServices, poolSpecSetup } from './testing/pool-services';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe('PoolReadModel', () => {
  const t = poolSpecSetup();
  const { clock, newPool, accessToken, idsOf } = t;

  describe('views', () => {
    let pool: PoolServices;
    let a: string;
    let b: string;
    beforeEach(async () => {
      pool = newPool({ randomToken: false });
      await pool.admin.upload([accessToken('a'), accessToken('b')]);
      [a, b] = await idsOf(pool);
    });

    it('never shows the raw credential', async () => {
      const views = JSON.stringify(await pool.readModel.list());
      expect(views).not.toContain((await t.store.getAccount(a))!.token);
      expect((await pool.readModel.list())[0].maskedToken).toMatch(/^eyJhbG…/);
    });

    it('shows a workspace id in full, but masks one stored before ids had to be UUIDs, such as a second token (found in review)', async () => {
      const workspace = '7d6c5b4a-3f2e-4d1c-9b0a-112233445566';
      const secondToken = `Rt2${'c'.repeat(20)}${'D'.repeat(22)}`;
      await t.store.updateAccount(a, (current) => ({ ...current, chatgptAccountId: workspace }));
      await t.store.updateAccount(b, (current) => ({ ...current, chatgptAccountId: secondToken }));
      expect(await pool.readModel.findView(a)).toMatchObject({ chatgptAccountId: workspace });
      expect(await pool.readModel.findView(b)).toMatchObject({ chatgptAccountId: 'Rt2ccc…DDDD' });
    });

    it('finds one account by id, as the list shows it, and null for an unknown id', async () => {
      await pool.leaser.report(a, { kind: 'forbidden', reason: 'banned' });
      const listed = (await pool.readModel.list()).find((account) => account.id === a);
      expect(await pool.readModel.findView(a)).toEqual(listed);
      expect(await pool.readModel.findView(a)).toMatchObject({ state: 'disabled', stateReason: 'banned' });
      expect(await pool.readModel.findView(b)).toMatchObject({ id: b, state: 'active' });
      expect(await pool.readModel.findView('missing')).toBeNull();
    });

    it('reads the one account asked for, not the whole pool', async () => {
      const listAccounts = jest.spyOn(t.store, 'listAccounts');
      const getAccount = jest.spyOn(t.store, 'getAccount');
      expect(await pool.readModel.findView(b)).toMatchObject({ id: b });
      expect(getAccount).toHaveBeenCalledWith(b);
      expect(listAccounts).not.toHaveBeenCalled();
    });

    it('shows a rate limit that has run out as active, and a dead AccessToken as expired', async () => {
      await pool.leaser.report(a, { kind: 'rate_limited', retryAfterSec: 60 });
      expect(await pool.readModel.findView(a)).toMatchObject({ state: 'rate_limited', rateLimitedUntil: clock.now() + MINUTE });
      clock.advance(MINUTE);
      expect(await pool.readModel.findView(a)).toMatchObject({ state: 'active' });
      expect(await pool.readModel.findView(a)).not.toHaveProperty('rateLimitedUntil');
      clock.advance(DAY);
      expect(await pool.readModel.findView(b)).toMatchObject({ state: 'expired', stateReason: 'access token expired' });
      expect(await pool.readModel.counts()).toEqual({ total: 2, active: 0, rate_limited: 0, expired: 2, disabled: 0 });
    });

    it('says an account is in service while active or rate limited, not once disabled, expired or removed', async () => {
      await pool.leaser.report(a, { kind: 'rate_limited', retryAfterSec: 60 });
      expect([await pool.readModel.accountInService(a), await pool.readModel.accountInService(b)]).toEqual([true, true]);
      await pool.leaser.report(a, { kind: 'forbidden', reason: 'banned' });
      await pool.admin.remove(b);
      expect([await pool.readModel.accountInService(a), await pool.readModel.accountInService(b)]).toEqual([false, false]);
      await pool.admin.restore(a);
      expect(await pool.readModel.accountInService(a)).toBe(true);
      clock.advance(DAY);
      expect(await pool.readModel.accountInService(a)).toBe(false);
    });

    it('counts a RefreshToken account whose renewal waits out a back-off as in service (a lease renews it), until disabled', async () => {
      const renewable = newPool();
      await renewable.admin.upload([fakeRefreshToken('backing-off')]);
      const id = (await renewable.readModel.list()).find((account) => account.kind === 'refresh_token')!.id;
      // As a renewal the auth server failed leaves it: expired, tried again after the back-off.
      await t.store.updateAccount(id, (current) => ({ ...current, state: 'expired', refreshRetryAt: clock.now() + MINUTE }));
      expect(await renewable.readModel.findView(id)).toMatchObject({ state: 'expired' });
      expect(await renewable.readModel.accountInService(id)).toBe(true);
      await renewable.leaser.report(id, { kind: 'forbidden', reason: 'banned' });
      expect(await renewable.readModel.accountInService(id)).toBe(false);
    });
  });
});
