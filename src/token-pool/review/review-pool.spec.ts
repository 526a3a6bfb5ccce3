import { REFRESH_BACKOFF_MS } from '../account-record';
import { poolSpecSetup } from '../testing/pool-services';
import { fakeAccessToken, fakeRefreshToken } from '../testing/fixtures';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe('review: token pool', () => {
  const t = poolSpecSetup();
  const { clock, newPool, accessToken, idsOf } = t;

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
