import type { INestApplicationContext } from '@nestjs/common';
import { BackgroundWork } from '../../common/lifecycle/background-work';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../common/vocabulary/clock';
import type { AppConfig } from '../../config/app-config';
import { testConfig } from '../../config/test-config';
import { testUpstreamClient } from '../../upstream/testing/test-upstream-client';
import { AccountLeaser } from '../account-leaser';
import { PoolAdmin } from '../pool-admin';
import { PoolReadModel } from '../pool-read-model';
import { PoolRefresher } from '../pool-refresher';
import { RefreshTokenExchanger } from '../refresh-token.exchanger';
import { SeedRegistry } from '../seed-registry';
import { SessionTokenExchanger } from '../session-token.exchanger';
import type { AccountStore } from '../stores/account-store';
import { FileAccountStore } from '../stores/file-account-store';
import { FakeClock } from './fake-clock';
import { fakeAccessToken, startFakeAuthServer, type AuthServerReply, type FakeAuthServer } from './fixtures';

/** The pool's services wired over one store, as `TokenPoolModule` wires them. */
export interface PoolServices {
  exchanger: RefreshTokenExchanger;
  sessions: SessionTokenExchanger;
  refresher: PoolRefresher;
  leaser: AccountLeaser;
  seeds: SeedRegistry;
  readModel: PoolReadModel;
  admin: PoolAdmin;
  /** The renewals under way, as the shutdown sees them. */
  background: BackgroundWork;
  /** Releases what the services hold open (the upstream client's connections). */
  close(): void;
}

export function poolServices(store: AccountStore, config: AppConfig, clock: Clock): PoolServices {
  const upstream = testUpstreamClient(config);
  const exchanger = new RefreshTokenExchanger(config, clock, upstream.client, store);
  const sessions = new SessionTokenExchanger(clock, upstream.client, store);
  const background = new BackgroundWork();
  const refresher = new PoolRefresher(store, exchanger, sessions, config, clock, background);
  const leaser = new AccountLeaser(store, refresher, config, clock);
  return {
    exchanger,
    sessions,
    refresher,
    leaser,
    seeds: new SeedRegistry(store, leaser, config, clock),
    readModel: new PoolReadModel(store, clock),
    admin: new PoolAdmin(store, exchanger, sessions, clock),
    background,
    close: upstream.close,
  };
}

/** The same services as a running app holds them (e2e specs); closing is the app's business. */
export function poolServicesOf(app: INestApplicationContext): PoolServices {
  return {
    exchanger: app.get(RefreshTokenExchanger),
    sessions: app.get(SessionTokenExchanger),
    refresher: app.get(PoolRefresher),
    leaser: app.get(AccountLeaser),
    seeds: app.get(SeedRegistry),
    readModel: app.get(PoolReadModel),
    admin: app.get(PoolAdmin),
    background: app.get(BackgroundWork),
    close: () => undefined,
  };
}

const HOUR = 3_600_000;

export interface PoolSpec {
  clock: FakeClock;
  dataDir: string;
  store: FileAccountStore;
  server: FakeAuthServer;
  reply: (body: Record<string, unknown>) => AuthServerReply;
  /** The pool's services over `store` (a new set on the same files simulates a restart). */
  newPool: (overrides?: Partial<AppConfig>, onStore?: AccountStore) => PoolServices;
  /** An AccessToken of user `user-<label>`, valid for `lifetimeMs` (a day by default). */
  accessToken: (label: string, lifetimeMs?: number) => string;
  idsOf: (pool: PoolServices) => Promise<string[]>;
}

/**
 * The common ground of the pool service specs: a fake clock at 2030-01-01, a fresh file store per test, and a
 * fake auth server answering with `reply` (a valid AccessToken for an hour unless a test says otherwise).
 * Call it inside a `describe`.
 */
export function poolSpecSetup(): PoolSpec {
  const clock = new FakeClock();
  const opened: PoolServices[] = [];
  const setup: PoolSpec = {
    clock,
    dataDir: '',
    store: undefined as unknown as FileAccountStore,
    server: undefined as unknown as FakeAuthServer,
    reply: () => ({ status: 200, body: {} }),
    newPool: (overrides = {}, onStore = setup.store) => {
      const services = poolServices(onStore, testConfig({ authBaseUrl: setup.server.url, ...overrides }), clock);
      opened.push(services);
      return services;
    },
    accessToken: (label, lifetimeMs = 24 * HOUR) => fakeAccessToken({ userId: `user-${label}`, exp: clock.now() + lifetimeMs }),
    idsOf: async (pool) => (await pool.readModel.list()).map((account) => account.id),
  };
  beforeAll(async () => {
    setup.server = await startFakeAuthServer((body) => setup.reply(body));
  });
  afterAll(() => setup.server.close());
  beforeEach(async () => {
    clock.set(Date.UTC(2030, 0, 1));
    setup.dataDir = await mkdtemp(join(tmpdir(), 'flowgpt-pool-'));
    setup.store = new FileAccountStore({ dataDir: setup.dataDir });
    setup.server.requests.length = 0;
    setup.reply = () => ({
      status: 200,
      body: { access_token: fakeAccessToken({ userId: 'user-rt', exp: clock.now() + HOUR }), expires_in: 3600 },
    });
  });
  afterEach(async () => {
    for (const services of opened.splice(0)) services.close();
    await rm(setup.dataDir, { recursive: true, force: true });
  });
  return setup;
}
