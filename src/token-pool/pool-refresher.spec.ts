import { poolSpecSetup } from './testing/pool-services';
import { fakeAccessToken, fakeRefreshToken, rotatingReplies } from './testing/fixtures';
import { STORE_RETRY_DELAYS_MS } from './stores/store-retry';
import { StoreUnavailableError } from '../common/errors/store-unavailable.error';
import { REFRESH_BACKOFF_MS } from './account-record';
import { credentialHash } from './rotation-links';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe('PoolRefresher', () => {
  const t = poolSpecSetup();
  const { clock, newPool, accessToken, idsOf } = t;

  describe('RefreshToken accounts', () => {
    const rt = fakeRefreshToken('rt');

    it('exchanges on lease, reuses the AccessToken, and renews it 5 minutes before expiry', async () => {
      const pool = newPool();
      await pool.admin.upload([rt]);
      const first = await pool.leaser.lease();
      expect(first).toEqual({ accountId: expect.any(String), accessToken: expect.stringMatching(/^eyJ/), planTier: 'paid' });
      expect(await pool.leaser.lease()).toEqual(first);
      expect(t.server.requests).toHaveLength(1);
      expect((await pool.readModel.list())[0]).toMatchObject({
        state: 'active',
        email: 'user@example.com',
        plan: 'plus',
        lastRefreshAt: clock.now(),
      });
      clock.advance(56 * MINUTE);
      const renewed = await pool.leaser.lease();
      expect(t.server.requests).toHaveLength(2);
      expect(renewed?.accessToken).not.toBe(first?.accessToken);
    });

    it('disables the account when the RefreshToken is rejected', async () => {
      const pool = newPool();
      t.reply = () => ({ status: 400, body: { error: 'invalid_grant' } });
      await pool.admin.upload([rt, accessToken('b')]);
      const [rtId, atId] = await idsOf(pool);
      for (let i = 0; i < 4; i++) expect((await pool.leaser.lease())?.accountId).toBe(atId);
      expect((await pool.readModel.list()).find((account) => account.id === rtId)).toMatchObject({
        state: 'disabled',
        stateReason: 'refresh token rejected (invalid_grant)',
      });
      expect(t.server.requests).toHaveLength(1);
    });

    it('sets the account aside when the auth server refuses its RefreshToken with a 4xx other than invalid_grant/access_denied', async () => {
      // auth.openai.com answers a spent or revoked RefreshToken with 401 and an error object such as this one; a 4xx is no outage.
      const pool = newPool();
      const revoked = 'rt_review-revoked-refresh-token-0001';
      t.reply = () => ({
        status: 401,
        body: {
          error: {
            message: 'Your refresh token has already been used to generate a new access token. Please try signing in again.',
            type: 'invalid_request_error',
            param: null,
            code: 'refresh_token_reused',
          },
        },
      });
      await pool.admin.upload([revoked]);
      const [id] = await idsOf(pool);
      expect(await pool.leaser.lease()).toBeNull();
      expect(await t.store.getAccount(id)).toMatchObject({
        state: 'disabled',
        stateReason: 'refresh token rejected (refresh_token_reused)',
      });
    });

    // auth.openai.com answers every exchange from an unsupported region (the server's egress, or one PROXY_URL exit)
    // with this 403 (seen on /oauth/token refreshes: router-for-me/CLIProxyAPI#2180): it is about the deployment, and
    // taking it as a refusal would disable every RefreshToken account in one forced refresh. So would a proxy's JSON 403.
    it.each([
      [
        'the geo-block 403 unsupported_country_region_territory',
        {
          error: {
            code: 'unsupported_country_region_territory',
            message: 'Country, region, or territory not supported',
            param: null,
            type: 'request_forbidden',
          },
        },
      ],
      ["a proxy's JSON 403 naming no OAuth code", { error: { message: 'Forbidden by egress policy' } }],
    ])('does not disable every RefreshToken account on %s', async (_what, body) => {
      const pool = newPool();
      await pool.admin.upload([fakeRefreshToken('r1'), fakeRefreshToken('r2'), fakeRefreshToken('r3')]);
      t.reply = () => ({ status: 403, body });
      const summary = await pool.refresher.refresh({ force: true });
      expect(summary).toMatchObject({ attempted: 3, failed: 3, disabled: 0 });
      expect((await pool.readModel.list()).map((account) => account.state)).not.toContain('disabled');
    });

    it('leaves the account alone when the auth server is down, and leases skip its refresh for a growing back-off', async () => {
      const pool = newPool();
      t.reply = () => ({ status: 503, body: 'unavailable' });
      await pool.admin.upload([rt]);
      expect(await pool.leaser.lease()).toBeNull();
      expect((await pool.readModel.list())[0]).toMatchObject({ state: 'active', failures: 1 });
      // Within the back-off no lease asks the auth server again (nor waits for it).
      clock.advance(REFRESH_BACKOFF_MS[0] - 1);
      expect(await pool.leaser.lease()).toBeNull();
      expect(t.server.requests).toHaveLength(1);
      // After it, one try; failing again doubles down on the wait.
      clock.advance(1);
      expect(await pool.leaser.lease()).toBeNull();
      expect(t.server.requests).toHaveLength(2);
      clock.advance(REFRESH_BACKOFF_MS[0]);
      expect(await pool.leaser.lease()).toBeNull();
      expect(t.server.requests).toHaveLength(2);
      clock.advance(REFRESH_BACKOFF_MS[1]);
      t.reply = () => ({ status: 200, body: { access_token: fakeAccessToken({ exp: clock.now() + HOUR }) } });
      expect(await pool.leaser.lease()).not.toBeNull();
      expect((await pool.readModel.list())[0]).toMatchObject({ failures: 0 });
      // A forced refresh (the schedule, the admin) does not wait for a back-off.
      t.reply = () => ({ status: 503, body: 'unavailable' });
      expect(await pool.refresher.refresh({ force: true })).toMatchObject({ failed: 1 });
      expect(await pool.refresher.refresh({ force: true })).toMatchObject({ failed: 1 });
      expect(t.server.requests).toHaveLength(5);
    });

    it('keeps leasing an AccessToken that still works while the auth server is away', async () => {
      const pool = newPool();
      t.reply = () => ({ status: 200, body: { access_token: fakeAccessToken({ exp: clock.now() + HOUR }) } });
      await pool.admin.upload([rt]);
      const first = await pool.leaser.lease();
      expect(first).not.toBeNull();
      // Into its renewal margin, not past its exp: the refresh fails, the AccessToken it has serves.
      t.reply = () => ({ status: 503, body: 'unavailable' });
      clock.advance(HOUR - 30_000);
      expect((await pool.leaser.lease())?.accessToken).toBe(first!.accessToken);
      expect((await pool.leaser.lease())?.accessToken).toBe(first!.accessToken);
      expect(t.server.requests).toHaveLength(2);
      // Past it, nothing to lease until the back-off (a minute from the failure) ends.
      clock.advance(40_000);
      expect(await pool.leaser.lease()).toBeNull();
      expect(t.server.requests).toHaveLength(2);
    });

    it('stores a rotated RefreshToken in place of the old one, under the same id', async () => {
      const pool = newPool();
      const rotated = 'rt_rotated-refresh-token-0001';
      t.reply = () => ({ status: 200, body: { access_token: fakeAccessToken({ exp: clock.now() + HOUR }), refresh_token: rotated } });
      await pool.admin.upload([rt]);
      const [id] = await idsOf(pool);
      await pool.leaser.lease();
      expect(await t.store.getAccount(id)).toMatchObject({ token: rotated, kind: 'refresh_token' });
      t.reply = () => ({ status: 200, body: { access_token: fakeAccessToken({ exp: clock.now() + HOUR }) } });
      await pool.refresher.refresh({ force: true });
      expect(t.server.requests.map((request) => request.refresh_token)).toEqual([rt, rotated]);
      expect(await pool.admin.upload([rotated])).toMatchObject({ duplicates: 1 });
    });

    /**
     * From now on the store's account updates and named-value writes fail as if it did not answer, for `forMs` of the
     * pool's time (the retries' waits move it on); the function returned brings it back at once.
     */
    const storeAwayFor = (forMs: number) => {
      const backAt = clock.now() + forMs;
      const away = () => Promise.reject(new StoreUnavailableError('the test store', new Error('away')));
      const update = t.store.updateAccount.bind(t.store);
      const setMeta = t.store.setMeta.bind(t.store);
      const spies = [
        jest.spyOn(t.store, 'updateAccount').mockImplementation((...args) => (clock.now() < backAt ? away() : update(...args))),
        jest.spyOn(t.store, 'setMeta').mockImplementation((...args) => (clock.now() < backAt ? away() : setMeta(...args))),
      ];
      return () => spies.forEach((spy) => spy.mockRestore());
    };

    it('stores a rotated RefreshToken that the store did not take at once, trying again while it comes back', async () => {
      const pool = newPool();
      t.reply = rotatingReplies(clock);
      await pool.admin.upload([rt]);
      const [id] = await idsOf(pool);
      // Back before the tries after a failed write are used up.
      storeAwayFor(STORE_RETRY_DELAYS_MS[0] + STORE_RETRY_DELAYS_MS[1]);
      expect(await pool.leaser.lease()).toMatchObject({ accountId: id });
      expect(await t.store.getAccount(id)).toMatchObject({ token: 'rt_next-1', state: 'active' });
      // A new process knows only what the store holds: the account's new value, and the link from the spent one.
      clock.advance(HOUR);
      expect(await newPool().leaser.lease()).toMatchObject({ accountId: id });
      expect(await newPool().exchanger.exchange(rt)).toMatchObject({ refreshToken: 'rt_next-3' });
      expect(t.server.requests.map((request) => request.refresh_token)).toEqual([rt, 'rt_next-1', 'rt_next-2']);
    });

    it('never sends a rotated-away RefreshToken again while the store stays away, and stores the new one once it is back', async () => {
      const pool = newPool();
      t.reply = rotatingReplies(clock);
      await pool.admin.upload([rt]);
      const [id] = await idsOf(pool);
      const storeBack = storeAwayFor(DAY);
      await expect(pool.leaser.lease()).rejects.toBeInstanceOf(StoreUnavailableError);
      storeBack();
      expect(await t.store.getAccount(id)).toMatchObject({ token: rt });
      // This process still knows what replaced the spent value.
      expect(await pool.leaser.lease()).toMatchObject({ accountId: id });
      expect(await t.store.getAccount(id)).toMatchObject({ token: 'rt_next-1' });
      expect(t.server.requests.map((request) => request.refresh_token)).toEqual([rt]);
      clock.advance(HOUR);
      expect(await newPool().exchanger.exchange(rt)).toMatchObject({ refreshToken: 'rt_next-2' });
      expect(t.server.requests.map((request) => request.refresh_token)).toEqual([rt, 'rt_next-1']);
    });

    it('writes the link of a RefreshToken rotated while the store stayed away once the store is back, so another instance never sends the spent value', async () => {
      const pool = newPool();
      t.reply = rotatingReplies(clock);
      await pool.admin.upload([rt]);
      const [id] = await idsOf(pool);
      const storeBack = storeAwayFor(DAY);
      await expect(pool.leaser.lease()).rejects.toBeInstanceOf(StoreUnavailableError);
      storeBack();
      // This process is asked nothing more, and the link reaches the store all the same.
      const linked = () => t.store.getMeta(`rotation:refresh-token:${credentialHash(rt)}`);
      const deadline = Date.now() + 30_000; // a generous wait, not a speed claim
      while (!(await linked()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      // Another instance sharing the store renews the account (its record still holds the spent value) with the newest.
      expect(await newPool().leaser.lease()).toMatchObject({ accountId: id });
      expect(t.server.requests.map((request) => request.refresh_token)).toEqual([rt, 'rt_next-1']);
      expect(await t.store.getAccount(id)).toMatchObject({ token: 'rt_next-2', state: 'active' });
    });

    it('refreshes at once when the upstream refuses the AccessToken', async () => {
      const pool = newPool();
      await pool.admin.upload([rt]);
      const first = (await pool.leaser.lease())!;
      await Promise.all([
        pool.leaser.report(first.accountId, { kind: 'unauthorized' }),
        pool.leaser.report(first.accountId, { kind: 'unauthorized' }),
      ]);
      expect(t.server.requests).toHaveLength(2);
      const second = (await pool.leaser.lease())!;
      expect(second.accessToken).not.toBe(first.accessToken);
      expect((await pool.readModel.list())[0]).toMatchObject({ state: 'active' });
    });

    it('leaves the account alone on a 401 for an AccessToken it has already replaced: no exchange, and the new one keeps serving', async () => {
      const pool = newPool();
      await pool.admin.upload([rt]);
      const old = (await pool.leaser.lease())!;
      // The admin (or the schedule) renews the account while a request still holds the old AccessToken.
      await pool.refresher.refresh({ force: true });
      const renewed = (await pool.leaser.lease())!;
      expect(renewed.accessToken).not.toBe(old.accessToken);
      expect(t.server.requests).toHaveLength(2);
      // That request's upstream answer: 401 for the old AccessToken.
      t.reply = () => ({ status: 503, body: 'unavailable' });
      await pool.leaser.report(old.accountId, { kind: 'unauthorized', accessToken: old.accessToken });
      expect(t.server.requests).toHaveLength(2);
      expect((await pool.readModel.list())[0]).toMatchObject({ state: 'active', failures: 0 });
      expect((await pool.leaser.lease())?.accessToken).toBe(renewed.accessToken);
    });

    it('once the server is shutting down, starts no further renewal, and the shutdown waits for the one under way', async () => {
      const pool = newPool({ refreshConcurrency: 1 });
      await pool.admin.upload([fakeRefreshToken('r1'), fakeRefreshToken('r2'), fakeRefreshToken('r3')]);
      const [first] = await idsOf(pool);
      let runningAtTheSignal = 0;
      t.reply = () => {
        // SIGTERM while the first exchange is at the auth server.
        pool.background.stop();
        runningAtTheSignal = pool.background.size;
        return { status: 200, body: { access_token: fakeAccessToken({ userId: 'user-r1', exp: clock.now() + HOUR }) } };
      };
      expect(await pool.refresher.refresh()).toEqual({ attempted: 1, refreshed: 1, failed: 0, disabled: 0, skipped: 2 });
      expect(runningAtTheSignal).toBe(1);
      expect(pool.background.size).toBe(0);
      expect(t.server.requests).toHaveLength(1);
      expect(await t.store.getAccount(first)).toMatchObject({ state: 'active', lastRefreshAt: clock.now() });
    });

    it('goes on with the other accounts when one renewal fails on a store that does not answer for a moment', async () => {
      const pool = newPool({ refreshConcurrency: 1 });
      await pool.admin.upload([fakeRefreshToken('r1'), fakeRefreshToken('r2'), fakeRefreshToken('r3')]);
      const [first, ...others] = await idsOf(pool);
      const withLock = t.store.withLock.bind(t.store);
      jest
        .spyOn(t.store, 'withLock')
        .mockImplementation((name, ttlMs, fn, options) =>
          name === `account-refresh:${first}`
            ? Promise.reject(new StoreUnavailableError('test store', 'blip'))
            : withLock(name, ttlMs, fn, options),
        );
      expect(await pool.refresher.refresh({ force: true })).toEqual({ attempted: 3, refreshed: 2, failed: 1, disabled: 0, skipped: 0 });
      for (const id of others) expect(await t.store.getAccount(id)).toMatchObject({ state: 'active', lastRefreshAt: clock.now() });
      expect(t.server.requests).toHaveLength(2);
    });

    it('refreshes only what is due unless forced, a few at a time', async () => {
      const pool = newPool({ refreshConcurrency: 2 });
      let running = 0;
      let peak = 0;
      t.reply = () => {
        peak = Math.max(peak, ++running);
        setTimeout(() => running--, 25);
        return { status: 200, body: { access_token: fakeAccessToken({ exp: clock.now() + HOUR }) }, delayMs: 30 };
      };
      await pool.admin.upload([
        fakeRefreshToken('r1'),
        fakeRefreshToken('r2'),
        fakeRefreshToken('r3'),
        fakeRefreshToken('r4'),
        accessToken('at'),
      ]);
      expect(await pool.refresher.refresh()).toEqual({ attempted: 4, refreshed: 4, failed: 0, disabled: 0, skipped: 1 });
      expect(peak).toBe(2);
      expect(await pool.refresher.refresh()).toEqual({ attempted: 0, refreshed: 0, failed: 0, disabled: 0, skipped: 5 });
      expect(await pool.refresher.refresh({ force: true })).toEqual({ attempted: 4, refreshed: 4, failed: 0, disabled: 0, skipped: 1 });
      const [first] = await idsOf(pool);
      expect(await pool.refresher.refresh({ id: first, force: true })).toMatchObject({ attempted: 1, refreshed: 1 });
      expect(t.server.requests).toHaveLength(9);
    });
  });
});
