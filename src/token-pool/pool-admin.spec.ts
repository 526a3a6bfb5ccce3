import { type PoolServices, poolSpecSetup } from './testing/pool-services';
import { fakeAccessToken, fakeRefreshToken } from './testing/fixtures';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe('PoolAdmin', () => {
  const t = poolSpecSetup();
  const { clock, newPool, accessToken, idsOf } = t;

  describe('upload', () => {
    it('counts added, duplicate and invalid lines, ignoring blanks and comments', async () => {
      const pool = newPool();
      const token = accessToken('a');
      const sameUser = fakeAccessToken({ userId: 'user-a', exp: clock.now() + HOUR });
      const result = await pool.admin.upload([
        '# comment',
        '',
        `  ${token} `,
        token,
        sameUser,
        'garbage',
        fakeRefreshToken('r1'),
        fakeRefreshToken('r1'),
      ]);
      expect(result).toEqual({ added: 2, replaced: 0, duplicates: 3, invalid: 1, invalidLines: [6] });
      expect(await pool.admin.upload([token, fakeRefreshToken('r1')])).toEqual({
        added: 0,
        replaced: 0,
        duplicates: 2,
        invalid: 0,
        invalidLines: [],
      });
    });

    it('puts an account whose AccessToken expired back in service with a fresh one of its user, under the same id', async () => {
      const pool = newPool();
      await pool.admin.upload([accessToken('alice', 10 * MINUTE)]);
      const [id] = await idsOf(pool);
      clock.advance(11 * MINUTE);
      expect(await pool.leaser.lease()).toBeNull();
      // README: "It expires after some days; then copy a new one" and upload it at /admin.
      const fresh = accessToken('alice', 24 * HOUR);
      expect(await pool.admin.upload([fresh, fresh])).toEqual({ added: 0, replaced: 1, duplicates: 1, invalid: 0, invalidLines: [] });
      expect(await pool.leaser.lease()).toEqual({ accountId: id, accessToken: fresh, planTier: 'paid' });
      expect(await pool.readModel.findView(id)).toMatchObject({ state: 'active', failures: 0 });
    });

    it('puts a disabled account back in service with a fresh AccessToken, and a 401 for its old one no longer counts', async () => {
      const pool = newPool();
      const old = accessToken('alice');
      await pool.admin.upload([old]);
      const [id] = await idsOf(pool);
      await pool.leaser.report(id, { kind: 'unauthorized', accessToken: old });
      expect(await pool.readModel.findView(id)).toMatchObject({ state: 'disabled' });
      // The same (refused) token again is a duplicate: restoring it is the admin's restore.
      expect(await pool.admin.upload([old])).toMatchObject({ added: 0, replaced: 0, duplicates: 1 });
      const fresh = fakeAccessToken({ userId: 'user-alice', exp: clock.now() + 2 * HOUR });
      expect(await pool.admin.upload([fresh])).toMatchObject({ added: 0, replaced: 1, duplicates: 0 });
      await pool.leaser.report(id, { kind: 'unauthorized', accessToken: old });
      expect(await pool.leaser.lease()).toEqual({ accountId: id, accessToken: fresh, planTier: 'paid' });
    });

    it('does not disable an account whose fresh AccessToken was uploaded while a 401 for its old one was being reported', async () => {
      const pool = newPool();
      const old = accessToken('alice', 10 * MINUTE);
      await pool.admin.upload([old]);
      const [id] = await idsOf(pool);
      clock.advance(11 * MINUTE);
      expect(await pool.leaser.lease()).toBeNull();
      const fresh = accessToken('alice', 24 * HOUR);
      // The admin's upload lands between the report's read of the account and its write.
      const read = t.store.getAccount.bind(t.store);
      jest.spyOn(t.store, 'getAccount').mockImplementationOnce(async (accountId) => {
        const seen = await read(accountId);
        expect(await pool.admin.upload([fresh])).toMatchObject({ replaced: 1 });
        return seen;
      });
      await pool.leaser.report(id, { kind: 'unauthorized', accessToken: old });
      expect(await pool.readModel.findView(id)).toMatchObject({ state: 'active' });
      expect(await pool.leaser.lease()).toEqual({ accountId: id, accessToken: fresh, planTier: 'paid' });
    });

    it('gives a RefreshToken account out of service an uploaded AccessToken of its user, keeping its RefreshToken', async () => {
      const pool = newPool();
      const rt = fakeRefreshToken('rt');
      await pool.admin.upload([rt]);
      const lease = (await pool.leaser.lease())!;
      await pool.leaser.report(lease.accountId, { kind: 'forbidden', reason: 'account deactivated' });
      const fresh = accessToken('rt');
      expect(await pool.admin.upload([fresh])).toMatchObject({ added: 0, replaced: 1 });
      expect(await t.store.getAccount(lease.accountId)).toMatchObject({
        kind: 'refresh_token',
        token: rt,
        accessToken: fresh,
        state: 'active',
      });
    });

    it('leaves an account that is in service alone: a newer AccessToken of its user is a duplicate', async () => {
      const pool = newPool();
      const current = accessToken('alice');
      await pool.admin.upload([current]);
      const [id] = await idsOf(pool);
      await pool.leaser.report(id, { kind: 'rate_limited' });
      expect(await pool.admin.upload([accessToken('alice', 48 * HOUR)])).toMatchObject({ added: 0, replaced: 0, duplicates: 1 });
      expect(await t.store.getAccount(id)).toMatchObject({ token: current, state: 'rate_limited' });
    });

    it('puts an AccessToken account whose JWT expired while it was rate-limited back in service with a fresh one', async () => {
      const pool = newPool();
      await pool.admin.upload([accessToken('alice', 10 * MINUTE)]);
      const [id] = await idsOf(pool);
      await pool.leaser.report(id, { kind: 'rate_limited', retryAfterSec: 3600 });
      clock.advance(20 * MINUTE);
      // Its token is dead, rate limit or not: it can never serve again as it is.
      expect(await pool.readModel.findView(id)).toMatchObject({ state: 'expired' });
      const fresh = accessToken('alice', 24 * HOUR);
      expect(await pool.admin.upload([fresh])).toMatchObject({ added: 0, replaced: 1, duplicates: 0 });
      expect(await pool.leaser.lease()).toEqual({ accountId: id, accessToken: fresh, planTier: 'paid' });
    });

    it('refuses tokens that cannot be HTTP header values, naming their lines', async () => {
      const pool = newPool();
      const good = accessToken('a');
      const result = await pool.admin.upload([
        good,
        'fk-bad中token',
        `fk-bad\u0001token`,
        `${good.slice(0, 20)}\u00e9${good.slice(20)}`,
        'rt_abcdefghijk\u007f',
        'fk-ok-token',
      ]);
      expect(result).toEqual({ added: 2, replaced: 0, duplicates: 0, invalid: 4, invalidLines: [2, 3, 4, 5] });
      expect((await pool.readModel.list()).map((account) => account.maskedToken)).toHaveLength(2);
    });

    it('keeps one user in two Team workspaces as two accounts, but not the same pair twice', async () => {
      const pool = newPool();
      const token = accessToken('a');
      const other = fakeAccessToken({ userId: 'user-a', exp: clock.now() + HOUR });
      expect(
        await pool.admin.upload([
          `${token},7d6c5b4a-3f2e-4d1c-9b0a-112233445566`,
          `${other}:8e7d6c5b-4a3f-4e2d-8c1b-223344556677`,
          `${other},7d6c5b4a-3f2e-4d1c-9b0a-112233445566`,
        ]),
      ).toEqual({
        added: 2,
        replaced: 0,
        duplicates: 1,
        invalid: 0,
        invalidLines: [],
      });
    });

    it('gives every account a short stable id that is not the token', async () => {
      const pool = newPool();
      const token = accessToken('a');
      await pool.admin.upload([token]);
      const [id] = await idsOf(pool);
      expect(id).toMatch(/^[A-Za-z0-9_-]{12}$/);
      await pool.admin.clear();
      await pool.admin.upload([token]);
      expect(await idsOf(pool)).toEqual([id]);
    });

    it('writes one batch at a time when uploads overlap', async () => {
      const pool = newPool();
      const tokens = Array.from({ length: 30 }, (_, index) => accessToken(`u${index}`));
      const results = await Promise.all([
        pool.admin.upload(tokens),
        pool.admin.upload(tokens.slice(10)),
        pool.admin.upload(tokens.slice(0, 5)),
      ]);
      expect(results.reduce((sum, result) => sum + result.added, 0)).toBe(30);
      expect(await pool.readModel.counts()).toMatchObject({ total: 30, active: 30 });
    });
  });

  describe('restore', () => {
    const rt = fakeRefreshToken('rt');
    /** An RT account whose forced refreshes met an auth server blip three times (a 30-minute back-off), then disabled by a 403. */
    const disabledWhileBackingOff = async (pool: PoolServices, beforeTheBlipMs: number) => {
      await pool.admin.upload([rt]);
      const lease = (await pool.leaser.lease())!;
      clock.advance(beforeTheBlipMs);
      t.reply = () => ({ status: 503, body: 'unavailable' });
      for (let i = 0; i < 3; i++) await pool.refresher.refresh({ id: lease.accountId, force: true });
      await pool.leaser.report(lease.accountId, { kind: 'forbidden', reason: 'account deactivated' });
      t.reply = () => ({ status: 200, body: { access_token: fakeAccessToken({ userId: 'user-rt', exp: clock.now() + HOUR }) } });
      return lease;
    };

    it('puts an account back in service at once, keeping an AccessToken that is still good', async () => {
      const pool = newPool();
      const lease = await disabledWhileBackingOff(pool, 0);
      expect(await pool.admin.restore(lease.accountId)).toBe(true);
      expect(await pool.readModel.findView(lease.accountId)).toMatchObject({ state: 'active' });
      expect(await pool.leaser.lease()).toEqual(lease);
      expect(t.server.requests).toHaveLength(4);
    });

    it('ends the refresh back-off, so an account whose AccessToken is gone is renewed on next use', async () => {
      const pool = newPool();
      const lease = await disabledWhileBackingOff(pool, 58 * MINUTE);
      clock.advance(3 * MINUTE);
      expect(await pool.admin.restore(lease.accountId)).toBe(true);
      const renewed = await pool.leaser.lease();
      expect(renewed).toMatchObject({ accountId: lease.accountId });
      expect(renewed?.accessToken).not.toBe(lease.accessToken);
      expect(t.server.requests).toHaveLength(5);
    });

    it('does not serve an AccessToken the upstream already refused', async () => {
      const pool = newPool();
      await pool.admin.upload([rt]);
      const refused = (await pool.leaser.lease())!;
      // 401 → expired → its renewal refused → disabled.
      t.reply = () => ({ status: 400, body: { error: 'invalid_grant' } });
      await pool.leaser.report(refused.accountId, { kind: 'unauthorized', accessToken: refused.accessToken });
      expect(await pool.readModel.findView(refused.accountId)).toMatchObject({ state: 'disabled' });
      // The admin restores it (say the refusal was the auth server's mistake); the auth server answers again.
      t.reply = () => ({ status: 200, body: { access_token: fakeAccessToken({ userId: 'user-rt', exp: clock.now() + HOUR }) } });
      clock.advance(MINUTE);
      expect(await pool.admin.restore(refused.accountId)).toBe(true);
      const lease = await pool.leaser.lease();
      expect(lease?.accountId).toBe(refused.accountId);
      expect(lease?.accessToken).not.toBe(refused.accessToken);
    });
  });

  describe('remove and clear', () => {
    let pool: PoolServices;
    let a: string;
    let b: string;
    beforeEach(async () => {
      pool = newPool({ randomToken: false });
      await pool.admin.upload([accessToken('a'), accessToken('b')]);
      [a, b] = await idsOf(pool);
    });

    it('removes and clears accounts', async () => {
      expect(await pool.admin.remove(a)).toBe(true);
      expect(await pool.admin.remove(a)).toBe(false);
      expect(await idsOf(pool)).toEqual([b]);
      expect(await pool.admin.clear()).toBe(1);
      expect(await pool.readModel.counts()).toMatchObject({ total: 0 });
    });
  });
});
