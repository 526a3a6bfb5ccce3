import { REFRESH_BACKOFF_MS } from '../account-record';
import { poolSpecSetup } from '../testing/pool-services';
import { fakeAccessToken, fakeRefreshToken } from '../testing/fixtures';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe('review: token pool', () => {
  const t = poolSpecSetup();
  const { clock, newPool, accessToken, idsOf } = t;

  it('an RT account refused upstream while the auth server blips comes back into rotation after the back-off', async () => {
    const pool = newPool({ randomToken: false });
    const rt = fakeRefreshToken('rt');
    await pool.admin.upload([rt, accessToken('b')]);
    const [rtId, atId] = await idsOf(pool);
    // The RT account works, then its AccessToken is refused upstream just as the auth server has a 503 blip.
    expect((await pool.leaser.lease({ exclude: new Set([atId]) }))?.accountId).toBe(rtId);
    t.reply = () => ({ status: 503, body: 'unavailable' });
    await pool.leaser.report(rtId, { kind: 'unauthorized' });
    // The auth server is back and every back-off has long ended.
    t.reply = () => ({ status: 200, body: { access_token: fakeAccessToken({ userId: 'user-rt', exp: clock.now() + HOUR }) } });
    clock.advance(REFRESH_BACKOFF_MS[REFRESH_BACKOFF_MS.length - 1] + MINUTE);
    const leased = new Set<string>();
    for (let i = 0; i < 6; i++) leased.add((await pool.leaser.lease())?.accountId ?? 'none');
    // README: "requests leave its refresh alone for 1 min → 5 min → 30 min", then try again.
    expect(leased).toEqual(new Set([rtId, atId]));
  });

  it('uploading a fresh AccessToken for an account whose AccessToken expired puts the account back in service', async () => {
    const pool = newPool();
    await pool.admin.upload([accessToken('alice', 10 * MINUTE)]);
    clock.advance(11 * MINUTE);
    expect(await pool.leaser.lease()).toBeNull();
    // README: "It expires after some days; then copy a new one" and upload it at /admin.
    const fresh = accessToken('alice', 24 * HOUR);
    // Today: {added: 0, duplicates: 1} (same JWT user as the dead record), and the pool stays empty.
    await pool.admin.upload([fresh]);
    expect((await pool.leaser.lease())?.accessToken).toBe(fresh);
  });
});
