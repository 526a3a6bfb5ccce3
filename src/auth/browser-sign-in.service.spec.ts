import { AppConfig } from '../config/app-config';
import type { RefreshTokenExchanger } from '../token-pool/refresh-token.exchanger';
import type { SeedRegistry } from '../token-pool/seed-registry';
import type { SessionTokenExchanger } from '../token-pool/session-token.exchanger';
import { FakeClock } from '../token-pool/testing/fake-clock';
import type { AccessTokenChecker } from './access-token.checker';
import { BrowserSignIn } from './browser-sign-in.service';

describe('BrowserSignIn and the admin secret and API prefix', () => {
  function signInWith(settings: Partial<AppConfig>) {
    const leaseForSeed = jest.fn(async () => 'invalid_seed' as const);
    const config = Object.assign(new AppConfig(), settings);
    const checker = new BrowserSignIn(
      config,
      new FakeClock(),
      { leaseForSeed } as unknown as SeedRegistry,
      {} as RefreshTokenExchanger,
      {} as SessionTokenExchanger,
      {} as AccessTokenChecker,
    );
    return { check: (token: string) => checker.check(token), leaseForSeed };
  }

  it.each([
    ['AUTO_SEED=true', { autoSeed: true }, 'seedTooShort'],
    ['AUTO_SEED=false', { autoSeed: false }, 'seedUnknown'],
  ])(
    'gives a short API_PREFIX the answer any short token gets (%s): the form tells nobody guessing it they found it',
    async (_label, seeding, answer) => {
      for (const secrets of [{ apiPrefix: 'pfx' }, { apiPrefix: 'pfx', adminKey: 'admin-key-for-sign-in-spec' }]) {
        const { check } = signInWith({ ...seeding, ...secrets });
        expect({ secrets, prefix: await check('pfx'), guess: await check('pfy') }).toEqual({
          secrets,
          prefix: { ok: false, reason: answer },
          guess: { ok: false, reason: answer },
        });
      }
    },
  );

  it('refuses the admin secret and an API_PREFIX long enough to become a seed, before the seed store hears of them', async () => {
    const { check, leaseForSeed } = signInWith({
      autoSeed: true,
      apiPrefix: 'prefix-for-sign-in-spec',
      adminKey: 'admin-key-for-sign-in-spec',
    });
    expect(await check('admin-key-for-sign-in-spec')).toEqual({ ok: false, reason: 'adminKey' });
    expect(await check('prefix-for-sign-in-spec')).toEqual({ ok: false, reason: 'apiPrefix' });
    const alone = signInWith({ autoSeed: true, apiPrefix: 'prefix-for-sign-in-spec' });
    expect(await alone.check('prefix-for-sign-in-spec')).toEqual({ ok: false, reason: 'adminKey' });
    expect(leaseForSeed).not.toHaveBeenCalled();
    expect(alone.leaseForSeed).not.toHaveBeenCalled();
  });
});
