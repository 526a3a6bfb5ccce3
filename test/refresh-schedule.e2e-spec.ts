import type { NestExpressApplication } from '@nestjs/platform-express';
import { SchedulerRegistry } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { configureApp } from '../src/common/http/express-app';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config/load-config';
import { REFRESH_JOB_NAME, TokenRefreshScheduler } from '../src/scheduler/token-refresh.scheduler';
import { accountIdFor } from '../src/token-pool/account-record';
import { Clock } from '../src/common/vocabulary/clock';
import { ACCOUNT_STORE, type AccountStore } from '../src/token-pool/stores/account-store';
import { FakeClock } from '../src/token-pool/testing/fake-clock';
import { poolServicesOf } from '../src/token-pool/testing/pool-services';
import { FakeUpstream } from './fake-upstream/fake-upstream';

/**
 * `SCHEDULED_REFRESH=true` on a fake clock (gateway.md §8.3): the start-up run renews only RefreshToken
 * accounts close to expiry, the cron job renews all of them, and chat requests then use the new AccessTokens.
 *
 * The pool reads the fake clock; the fake upstream stamps and checks JWT `exp` with `Date.now()`. Both are
 * moved together (`travel`), so that the upstream and the pool agree on what has expired.
 */
const POOL_KEY = 'pool-key';
const CRON = '0 3 */4 * *';
const SEC = 1000;
const DAY = 86_400 * SEC;

describe('scheduled RefreshToken renewal (fake clock)', () => {
  const realNow = Date.now.bind(Date);
  let offset = 0;
  const clock = new FakeClock(realNow());
  /** Moves the pool's clock and the upstream's time forward together. */
  const travel = (ms: number) => {
    clock.advance(ms);
    offset += ms;
  };

  let fake: FakeUpstream;
  let dataDir: string;
  let app: NestExpressApplication | undefined;
  let url: string;
  const startupRuns = jest.spyOn(TokenRefreshScheduler.prototype, 'runStartupRefresh');

  /** RefreshTokens whose AccessTokens live 400 s (soon within the 5 min renewal margin) or 10 days. */
  let shortLived: string;
  let longLived: string;
  /** Uploaded after the first refresh: it has no AccessToken yet. */
  let neverExchanged: string;
  /** Each account's AccessToken before the scheduled run. */
  const before = new Map<string, string | undefined>();

  const boot = async (scheduledRefresh: boolean) => {
    const env = {
      CHATGPT_BASE_URL: fake.url,
      AUTH_BASE_URL: fake.url,
      DATA_DIR: dataDir,
      AUTHORIZATION: POOL_KEY,
      RANDOM_TOKEN: 'false',
      SCHEDULED_REFRESH: String(scheduledRefresh),
      REFRESH_CRON: CRON,
      LOG_LEVEL: 'error',
    };
    const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(loadConfig(env))] })
      .overrideProvider(Clock)
      .useValue(clock)
      .compile();
    app = moduleRef.createNestApplication<NestExpressApplication>({ bodyParser: false, logger: false });
    configureApp(app);
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  };
  const store = () => app!.get<AccountStore>(ACCOUNT_STORE);
  const accessTokenOf = async (rt: string) => (await store().getAccount(accountIdFor(rt)))?.accessToken;
  const exchangesOf = (rt: string) =>
    fake.requests.filter((request) => request.path === '/oauth/token' && (request.body as { refresh_token?: string }).refresh_token === rt)
      .length;

  beforeAll(async () => {
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
    fake = await FakeUpstream.start();
    dataDir = mkdtempSync(join(tmpdir(), 'flowgpt-refresh-'));
    shortLived = fake.createRefreshToken({ accessTokenTtlSec: 400 });
    longLived = fake.createRefreshToken({ accessTokenTtlSec: 10 * 86_400 });
    neverExchanged = fake.createRefreshToken({ accessTokenTtlSec: 10 * 86_400 });

    // A first life of the app, without the schedule: two accounts get their AccessTokens, a third is added later.
    await boot(false);
    const pool = poolServicesOf(app!);
    await pool.admin.upload([shortLived, longLived]);
    expect(await pool.refresher.refresh()).toMatchObject({ refreshed: 2 });
    await pool.admin.upload([neverExchanged]);
    await app!.close();
    app = undefined;
    fake.reset();
  });
  afterAll(async () => {
    await app?.close();
    await fake.close();
    rmSync(dataDir, { recursive: true, force: true });
    jest.restoreAllMocks();
  });

  it('at start-up exchanges only the RefreshTokens whose AccessToken is missing or close to expiry', async () => {
    // 200 s later the short-lived AccessToken is inside the 5-minute renewal margin; the long-lived one is not.
    travel(200 * SEC);
    startupRuns.mockClear();
    await boot(true);
    expect(startupRuns).toHaveBeenCalledTimes(1);
    const summary = await (startupRuns.mock.results[0].value as ReturnType<TokenRefreshScheduler['runStartupRefresh']>);

    expect(summary).toMatchObject({ attempted: 2, refreshed: 2, failed: 0, disabled: 0 });
    expect({ shortLived: exchangesOf(shortLived), longLived: exchangesOf(longLived), neverExchanged: exchangesOf(neverExchanged) }).toEqual(
      {
        shortLived: 1,
        longLived: 0,
        neverExchanged: 1,
      },
    );
    for (const rt of [shortLived, longLived, neverExchanged]) {
      expect(await accessTokenOf(rt)).toEqual(expect.any(String));
      before.set(rt, await accessTokenOf(rt));
    }
  });

  it('the cron job, past every expiry, renews every RefreshToken account once and records its run', async () => {
    travel(11 * DAY);
    fake.reset();
    const scheduler = app!.get(TokenRefreshScheduler);
    expect(await scheduler.lastRun()).toBeNull();

    await app!.get(SchedulerRegistry).getCronJob(REFRESH_JOB_NAME).fireOnTick();

    expect({ shortLived: exchangesOf(shortLived), longLived: exchangesOf(longLived), neverExchanged: exchangesOf(neverExchanged) }).toEqual(
      {
        shortLived: 1,
        longLived: 1,
        neverExchanged: 1,
      },
    );
    const run = await scheduler.lastRun();
    expect(run).toMatchObject({ slot: clock.now(), summary: { attempted: 3, refreshed: 3, failed: 0, disabled: 0 } });
    for (const rt of [shortLived, longLived, neverExchanged]) {
      const renewed = await accessTokenOf(rt);
      expect(renewed).toEqual(expect.any(String));
      expect(renewed).not.toBe(before.get(rt));
      const account = await store().getAccount(accountIdFor(rt));
      expect(account).toMatchObject({ state: 'active', lastRefreshAt: clock.now() });
      expect(account!.accessTokenExpiresAt).toBeGreaterThan(clock.now() + 5 * 60 * SEC);
    }

    // The same occurrence fired again (a second instance, a late timer) does not renew anything twice.
    await app!.get(SchedulerRegistry).getCronJob(REFRESH_JOB_NAME).fireOnTick();
    expect(fake.requests.filter((request) => request.path === '/oauth/token')).toHaveLength(3);
  });

  it('chat requests afterwards use the renewed AccessTokens, without another exchange', async () => {
    const current = new Map<string, string>();
    for (const rt of [shortLived, longLived, neverExchanged]) current.set((await accessTokenOf(rt))!, rt);
    fake.reset();
    const openai = new OpenAI({ apiKey: POOL_KEY, baseURL: `${url}/v1`, maxRetries: 0, timeout: 20_000 });

    for (let i = 0; i < 6; i++) await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }] });

    const bearers = fake.conversationRequests().map((request) => String(request.headers.authorization).replace(/^Bearer /, ''));
    expect(bearers).toHaveLength(6);
    expect(new Set(bearers)).toEqual(new Set(current.keys()));
    expect(fake.requests.filter((request) => request.path === '/oauth/token')).toHaveLength(0);
    // The AccessTokens from before the scheduled run are dead upstream by now, and none was used.
    for (const old of before.values()) expect(bearers).not.toContain(old);
  });
});
