import { StoreUnavailableError } from '../common/errors/store-unavailable.error';
import type { Clock } from '../common/vocabulary/clock';
import { testConfig } from '../config/test-config';
import { testUpstreamClient } from '../upstream/testing/test-upstream-client';
import type { CredentialExchanger } from './credential.exchanger';
import { RefreshTokenExchanger } from './refresh-token.exchanger';
import type { RotationLinks } from './rotation-links';
import { SessionTokenExchanger } from './session-token.exchanger';
import type { AccountStore } from './stores/account-store';
import { STORE_RETRY_DELAYS_MS } from './stores/store-retry';
import { FakeClock } from './testing/fake-clock';

describe('CredentialExchanger', () => {
  const upstreams: { close(): void }[] = [];
  afterEach(() => upstreams.splice(0).forEach((upstream) => upstream.close()));
  const upstreamClient = () => {
    const upstream = testUpstreamClient(testConfig());
    upstreams.push(upstream);
    return upstream.client;
  };

  /** A store whose first `downFor` writes do not get through (a Redis restart). */
  const storeDown = (downFor: number) => {
    let writes = 0;
    const store = {
      getMeta: () => Promise.resolve(null),
      setMeta: () =>
        ++writes <= downFor ? Promise.reject(new StoreUnavailableError('Redis', new Error('connection lost'))) : Promise.resolve(),
    };
    return store as unknown as AccountStore;
  };

  it.each<[string, (clock: Clock, store: AccountStore) => CredentialExchanger<{ accessToken: string; expiresAt: number }>]>([
    ['RefreshTokenExchanger', (clock, store) => new RefreshTokenExchanger(testConfig(), clock, upstreamClient(), store)],
    ['SessionTokenExchanger', (clock, store) => new SessionTokenExchanger(clock, upstreamClient(), store)],
  ])('%s waits out a store that does not answer on its own clock when it keeps a rotation', async (_, exchangerOver) => {
    const clock = new FakeClock();
    const started = clock.now();
    const exchanger = exchangerOver(clock, storeDown(2));
    const rotations = (exchanger as unknown as { rotations: RotationLinks }).rotations;
    rotations.link('value-0', 'value-1');
    expect(await rotations.keep('value-0', { retry: true })).toBe('value-1');
    expect(clock.now() - started).toBe(STORE_RETRY_DELAYS_MS[0] + STORE_RETRY_DELAYS_MS[1]);
  });
});
