import { LAST_USED_RESOLUTION_MS } from './account-leaser';
import { REFRESH_BACKOFF_MS } from './account-record';
import { fakeAccessToken, fakeRefreshToken } from './testing/fixtures';
import { type PoolServices, poolSpecSetup } from './testing/pool-services';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe('AccountLeaser', () => {
  const t = poolSpecSetup();
  const { clock, newPool, accessToken, idsOf } = t;

  describe('selection', () => {
    it('goes round-robin in strict order', async () => {
      const pool = newPool({ randomToken: false });
      await pool.admin.upload([accessToken('a'), accessToken('b'), accessToken('c')]);
      const ids = await idsOf(pool);
      const leased = [];
      for (let i = 0; i < 7; i++) leased.push((await pool.leaser.lease())?.accountId);
      expect(leased).toEqual([...ids, ...ids, ids[0]]);
    });

    it('picks at random among all active accounts', async () => {
      const pool = newPool({ randomToken: true });
      await pool.admin.upload([accessToken('a'), accessToken('b'), accessToken('c')]);
      const seen = new Set<string>();
      for (let i = 0; i < 100; i++) seen.add((await pool.leaser.lease())!.accountId);
      expect([...seen].sort()).toEqual((await idsOf(pool)).sort());
    });

    it('never hands out an account the request already tried, and gives null when none is left', async () => {
      for (const randomToken of [true, false]) {
        const pool = newPool({ randomToken });
        await pool.admin.clear();
        await pool.admin.upload([accessToken('a'), accessToken('b'), accessToken('c')]);
        const [a, b, c] = await idsOf(pool);
        for (let i = 0; i < 10; i++) expect((await pool.leaser.lease({ exclude: new Set([a, b]) }))?.accountId).toBe(c);
        expect(await pool.leaser.lease({ exclude: new Set([a, b, c]) })).toBeNull();
      }
    });

    it('gives null for an empty pool or one without active accounts', async () => {
      const pool = newPool();
      expect(await pool.leaser.lease()).toBeNull();
      await pool.admin.upload([accessToken('a')]);
      const [a] = await idsOf(pool);
      await pool.leaser.report(a, { kind: 'forbidden' });
      expect(await pool.leaser.lease()).toBeNull();
    });

    it('takes an expired RefreshToken account whose renewal failed back into rotation once the back-off ends', async () => {
      const pool = newPool({ randomToken: false });
      await pool.admin.upload([fakeRefreshToken('rt'), accessToken('b')]);
      const [rtId, atId] = await idsOf(pool);
      // The RT account works, then its AccessToken is refused upstream just as the auth server has a 503 blip.
      const rtLease = (await pool.leaser.lease({ exclude: new Set([atId]) }))!;
      expect(rtLease.accountId).toBe(rtId);
      t.reply = () => ({ status: 503, body: 'unavailable' });
      await pool.leaser.report(rtId, { kind: 'unauthorized', accessToken: rtLease.accessToken });
      expect(await t.store.getAccount(rtId)).toMatchObject({ state: 'expired' });
      // Within the back-off requests go to the other account; the auth server is back and the back-off ends.
      expect((await pool.leaser.lease())?.accountId).toBe(atId);
      t.reply = () => ({ status: 200, body: { access_token: fakeAccessToken({ userId: 'user-rt', exp: clock.now() + HOUR }) } });
      clock.advance(REFRESH_BACKOFF_MS[0]);
      const leased = new Set<string>();
      for (let i = 0; i < 4; i++) leased.add((await pool.leaser.lease())?.accountId ?? 'none');
      expect(leased).toEqual(new Set([rtId, atId]));
      expect(await t.store.getAccount(rtId)).toMatchObject({ state: 'active' });
    });

    it('hands out the Team workspace id with the AccessToken', async () => {
      const pool = newPool();
      const token = accessToken('team');
      await pool.admin.upload([`${token},7d6c5b4a-3f2e-4d1c-9b0a-112233445566`]);
      expect(await pool.leaser.lease()).toEqual({
        accountId: expect.any(String),
        accessToken: token,
        chatgptAccountId: '7d6c5b4a-3f2e-4d1c-9b0a-112233445566',
      });
    });

    describe('for a paid-only model', () => {
      const TEAM = '7d6c5b4a-3f2e-4d1c-9b0a-112233445566';
      const tokenOn = (label: string, plan: string, accountId?: string) =>
        fakeAccessToken({ userId: `user-${label}`, exp: clock.now() + HOUR, plan, accountId });
      /** Two free accounts, a paid one, and a Team workspace whose plan nobody knows yet (its token's claims are another workspace's). */
      async function mixedPool(randomToken = false) {
        const pool = newPool({ randomToken });
        await pool.admin.upload([
          tokenOn('free-1', 'free'),
          tokenOn('free-2', 'free'),
          tokenOn('paid', 'plus'),
          `${tokenOn('team', 'free', '0f1e2d3c-4b5a-4c6d-8e7f-901234567abc')},${TEAM}`,
        ]);
        const [free1, free2, paid, team] = await idsOf(pool);
        return { pool, free1, free2, paid, team };
      }
      const leasedIds = async (pool: PoolServices, times: number, paidOnly: boolean, exclude = new Set<string>()) => {
        const ids: (string | undefined)[] = [];
        for (let i = 0; i < times; i++) ids.push((await pool.leaser.lease({ exclude, paidOnly }))?.accountId);
        return ids;
      };

      it('takes the plan from the AccessToken claims, and none from a token of another workspace', async () => {
        const { pool } = await mixedPool();
        expect((await pool.readModel.list()).map((account) => account.plan)).toEqual(['free', 'free', 'plus', undefined]);
      });

      it('hands out, in turn, only the accounts whose plan may serve it (paid or unknown) while one is left', async () => {
        for (const randomToken of [false, true]) {
          const { pool, paid, team } = await mixedPool(randomToken);
          const leased = await leasedIds(pool, 20, true);
          expect(new Set(leased)).toEqual(new Set([paid, team]));
          if (!randomToken) expect(leased.slice(0, 4)).toEqual([paid, team, paid, team]);
          await pool.admin.clear();
        }
      });

      it('leaves other models to the whole rotation', async () => {
        const { pool, free1, free2, paid, team } = await mixedPool();
        expect(await leasedIds(pool, 4, false)).toEqual([free1, free2, paid, team]);
      });

      it('falls back to a free account once no other may serve it: its plan may have changed', async () => {
        const { pool, free1, free2, paid, team } = await mixedPool();
        expect(new Set(await leasedIds(pool, 4, true, new Set([paid, team])))).toEqual(new Set([free1, free2]));
        await pool.leaser.report(paid, { kind: 'rate_limited' });
        await pool.leaser.report(team, { kind: 'forbidden' });
        expect(new Set(await leasedIds(pool, 4, true))).toEqual(new Set([free1, free2]));
      });

      it('learns a plan the upstream shows, for the account’s own workspace only, and chooses by it', async () => {
        const { pool, free1, paid, team } = await mixedPool();
        await pool.leaser.learnPlan(team, 'free', undefined);
        expect(await t.store.getAccount(team)).not.toHaveProperty('plan');
        await pool.leaser.learnPlan(team, 'free', TEAM);
        await pool.leaser.learnPlan(free1, 'paid', undefined);
        expect(await t.store.getAccount(team)).toMatchObject({ plan: 'free' });
        expect(await t.store.getAccount(free1)).toMatchObject({ plan: 'paid' });
        expect(new Set(await leasedIds(pool, 6, true))).toEqual(new Set([free1, paid]));
        // A tier it already has changes nothing: `plus` stays `plus`.
        await pool.leaser.learnPlan(paid, 'paid', undefined);
        expect(await t.store.getAccount(paid)).toMatchObject({ plan: 'plus' });
      });
    });

    it('marks an AccessToken account expired once its JWT has expired', async () => {
      const pool = newPool();
      await pool.admin.upload([accessToken('short', 10 * MINUTE)]);
      expect(await pool.leaser.lease()).not.toBeNull();
      clock.advance(11 * MINUTE);
      expect(await pool.readModel.counts()).toMatchObject({ active: 0, expired: 1 });
      expect(await pool.leaser.lease()).toBeNull();
      expect(await pool.readModel.list()).toEqual([expect.objectContaining({ state: 'expired', stateReason: 'access token expired' })]);
    });
  });

  describe('outcomes', () => {
    let pool: PoolServices;
    let a: string;
    let b: string;
    beforeEach(async () => {
      pool = newPool({ randomToken: false });
      await pool.admin.upload([accessToken('a'), accessToken('b')]);
      [a, b] = await idsOf(pool);
    });
    const stateOf = async (id: string) => (await pool.readModel.list()).find((account) => account.id === id)!;
    const leasedIds = async (times: number) => {
      const ids = new Set<string>();
      for (let i = 0; i < times; i++) ids.add((await pool.leaser.lease())?.accountId ?? 'none');
      return ids;
    };

    it('backs off 1 min, 5 min, then 30 min on consecutive rate limits, and recovers on its own', async () => {
      for (const backoff of [1, 5, 30, 30]) {
        await pool.leaser.report(a, { kind: 'rate_limited' });
        expect(await stateOf(a)).toMatchObject({ state: 'rate_limited', rateLimitedUntil: clock.now() + backoff * MINUTE });
        expect(await leasedIds(4)).toEqual(new Set([b]));
        clock.advance(backoff * MINUTE - 1000);
        expect(await leasedIds(4)).toEqual(new Set([b]));
        clock.advance(1000);
        expect(await stateOf(a)).toMatchObject({ state: 'active' });
        expect(await leasedIds(4)).toEqual(new Set([a, b]));
      }
      await pool.leaser.report(a, { kind: 'success' });
      await pool.leaser.report(a, { kind: 'rate_limited' });
      expect(await stateOf(a)).toMatchObject({ rateLimitedUntil: clock.now() + MINUTE });
    });

    it('uses the upstream reset hint when there is one', async () => {
      await pool.leaser.report(a, { kind: 'rate_limited', retryAfterSec: 3600 });
      expect(await stateOf(a)).toMatchObject({ state: 'rate_limited', rateLimitedUntil: clock.now() + HOUR });
      clock.advance(59 * MINUTE);
      expect(await leasedIds(4)).toEqual(new Set([b]));
      clock.advance(MINUTE);
      expect(await leasedIds(4)).toEqual(new Set([a, b]));
    });

    it('does not count requests already in flight as further strikes', async () => {
      await Promise.all([
        pool.leaser.report(a, { kind: 'rate_limited' }),
        pool.leaser.report(a, { kind: 'rate_limited' }),
        pool.leaser.report(a, { kind: 'rate_limited' }),
      ]);
      expect(await stateOf(a)).toMatchObject({ rateLimitedUntil: clock.now() + MINUTE });
    });

    it('keeps the strikes of a rate limit that a success already under way reports before it ends', async () => {
      await pool.leaser.report(a, { kind: 'rate_limited' });
      // A request that started before the limit hit answers after it: the account is still limited.
      await pool.leaser.report(a, { kind: 'success' });
      expect(await stateOf(a)).toMatchObject({ state: 'rate_limited', rateLimitedUntil: clock.now() + MINUTE });
      clock.advance(MINUTE);
      await pool.leaser.report(a, { kind: 'rate_limited' });
      expect(await stateOf(a)).toMatchObject({ state: 'rate_limited', rateLimitedUntil: clock.now() + 5 * MINUTE });
    });

    it('serves a follow-up on a rate-limited RefreshToken account whose AccessToken is due for renewal, keeping the limit', async () => {
      const rtPool = newPool();
      await rtPool.admin.upload([fakeRefreshToken('rt')]);
      const first = (await rtPool.leaser.lease())!;
      await rtPool.leaser.report(first.accountId, { kind: 'rate_limited', retryAfterSec: 3 * 3600 });
      // Within the renewal margin of its hour-long AccessToken, then past it: a file it generated still opens.
      clock.advance(56 * MINUTE);
      expect(await rtPool.leaser.leaseForFollowUp(first.accountId)).toMatchObject({ accountId: first.accountId });
      clock.advance(10 * MINUTE);
      const followUp = await rtPool.leaser.leaseForFollowUp(first.accountId);
      expect(followUp).toMatchObject({ accountId: first.accountId });
      expect(followUp!.accessToken).not.toBe(first.accessToken);
      expect(await t.store.getAccount(first.accountId)).toMatchObject({ state: 'rate_limited', rateLimitedUntil: expect.any(Number) });
      expect(await rtPool.leaser.lease({ exclude: new Set([a, b]) })).toBeNull();
    });

    it('keeps the rate limit of a RefreshToken account renewed after a 401 that came while it was limited', async () => {
      const rtPool = newPool();
      await rtPool.admin.upload([fakeRefreshToken('rt')]);
      const first = (await rtPool.leaser.lease())!;
      await rtPool.leaser.report(first.accountId, { kind: 'rate_limited', retryAfterSec: 3600 });
      const limitedUntil = clock.now() + HOUR;
      // A request that was already in flight is refused with its AccessToken: the account renews it, but stays limited.
      await rtPool.leaser.report(first.accountId, { kind: 'unauthorized', accessToken: first.accessToken });
      expect(await t.store.getAccount(first.accountId)).toMatchObject({ state: 'rate_limited', rateLimitedUntil: limitedUntil });
      expect(await rtPool.leaser.lease({ exclude: new Set([a, b]) })).toBeNull();
      clock.advance(HOUR);
      expect(await rtPool.leaser.lease({ exclude: new Set([a, b]) })).toMatchObject({ accountId: first.accountId });
    });

    it('disables on 403 and on a refused AccessToken until an admin restores the account', async () => {
      await pool.leaser.report(a, { kind: 'forbidden', reason: 'account deactivated' });
      await pool.leaser.report(b, { kind: 'unauthorized' });
      expect(await stateOf(a)).toMatchObject({ state: 'disabled', stateReason: 'account deactivated' });
      expect(await stateOf(b)).toMatchObject({ state: 'disabled', stateReason: 'access token rejected' });
      clock.advance(24 * HOUR - MINUTE);
      expect(await pool.leaser.lease()).toBeNull();
      expect(await pool.readModel.counts()).toEqual({ total: 2, active: 0, rate_limited: 0, expired: 0, disabled: 2 });
      expect(await pool.admin.restore(a)).toBe(true);
      expect(await pool.admin.restore('missing')).toBe(false);
      expect(await stateOf(a)).toMatchObject({ state: 'active', failures: 0 });
      expect(await stateOf(a)).not.toHaveProperty('stateReason');
      expect((await pool.leaser.lease())?.accountId).toBe(a);
    });

    it('disables an account whose credential cannot be sent, and counts a stalled attempt as a failure', async () => {
      await pool.leaser.report(a, { kind: 'unusable', reason: 'credential cannot be sent in an HTTP header' });
      await pool.leaser.report(b, { kind: 'failed', reason: 'stalled' });
      expect(await stateOf(a)).toMatchObject({
        state: 'disabled',
        stateReason: 'credential cannot be sent in an HTTP header',
        failures: 1,
      });
      expect(await stateOf(b)).toMatchObject({ state: 'active', failures: 1 });
      for (let i = 0; i < 3; i++) expect((await pool.leaser.lease())?.accountId).toBe(b);
    });

    it('records use on success', async () => {
      await pool.leaser.report(a, { kind: 'success' });
      expect(await stateOf(a)).toMatchObject({ lastUsedAt: clock.now(), failures: 0 });
    });

    it('writes nothing for a success that changes nothing but a recent lastUsedAt', async () => {
      await pool.leaser.report(a, { kind: 'success' });
      const usedAt = clock.now();
      clock.advance(LAST_USED_RESOLUTION_MS - 1);
      await pool.leaser.report(a, { kind: 'success' });
      expect(await stateOf(a)).toMatchObject({ lastUsedAt: usedAt });
      // A success after a failure is written at once.
      await pool.leaser.report(a, { kind: 'failed', reason: 'test' });
      await pool.leaser.report(a, { kind: 'success' });
      expect(await stateOf(a)).toMatchObject({ lastUsedAt: clock.now(), failures: 0 });
      clock.advance(LAST_USED_RESOLUTION_MS);
      await pool.leaser.report(a, { kind: 'success' });
      expect(await stateOf(a)).toMatchObject({ lastUsedAt: clock.now() });
    });
  });
});
