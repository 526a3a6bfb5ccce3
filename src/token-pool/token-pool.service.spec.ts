import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppConfig } from '../config/app-config';
import { RefreshTokenExchanger } from './refresh-token.exchanger';
import { FileAccountStore } from './stores/file-account-store';
import { FakeClock } from './testing/fake-clock';
import { fakeAccessToken, fakeRefreshToken, startFakeAuthServer, testConfig, type AuthServerReply, type FakeAuthServer } from './testing/fixtures';
import { seedIdFor, TokenPoolService } from './token-pool.service';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe('TokenPoolService', () => {
  const clock = new FakeClock();
  let dataDir: string;
  let store: FileAccountStore;
  let server: FakeAuthServer;
  let reply: (body: Record<string, unknown>) => AuthServerReply;
  const services: { pool: TokenPoolService; exchanger: RefreshTokenExchanger }[] = [];

  /** A pool over `store` (a new one on the same files simulates a restart). */
  const newPool = (overrides: Partial<AppConfig> = {}, onStore = store) => {
    const config = testConfig({ authBaseUrl: server.url, ...overrides });
    const exchanger = new RefreshTokenExchanger(config, clock);
    const pool = new TokenPoolService(onStore, exchanger, config, clock);
    services.push({ pool, exchanger });
    return pool;
  };
  const accessToken = (label: string, lifetimeMs = 24 * HOUR) => fakeAccessToken({ userId: `user-${label}`, exp: clock.now() + lifetimeMs });
  const idsOf = async (pool: TokenPoolService) => (await pool.list()).map((account) => account.id);

  beforeAll(async () => {
    server = await startFakeAuthServer((body) => reply(body));
  });
  afterAll(() => server.close());
  beforeEach(async () => {
    clock.set(Date.UTC(2030, 0, 1));
    dataDir = await mkdtemp(join(tmpdir(), 'flowgpt-pool-'));
    store = new FileAccountStore({ dataDir });
    server.requests.length = 0;
    reply = () => ({ status: 200, body: { access_token: fakeAccessToken({ userId: 'user-rt', exp: clock.now() + HOUR }), expires_in: 3600 } });
  });
  afterEach(async () => {
    for (const { exchanger } of services.splice(0)) exchanger.onModuleDestroy();
    await rm(dataDir, { recursive: true, force: true });
  });

  describe('selection', () => {
    it('goes round-robin in strict order', async () => {
      const pool = newPool({ randomToken: false });
      await pool.upload([accessToken('a'), accessToken('b'), accessToken('c')]);
      const ids = await idsOf(pool);
      const leased = [];
      for (let i = 0; i < 7; i++) leased.push((await pool.lease())?.accountId);
      expect(leased).toEqual([...ids, ...ids, ids[0]]);
    });

    it('picks at random among all active accounts', async () => {
      const pool = newPool({ randomToken: true });
      await pool.upload([accessToken('a'), accessToken('b'), accessToken('c')]);
      const seen = new Set<string>();
      for (let i = 0; i < 100; i++) seen.add((await pool.lease())!.accountId);
      expect([...seen].sort()).toEqual((await idsOf(pool)).sort());
    });

    it('never hands out an account the request already tried, and gives null when none is left', async () => {
      for (const randomToken of [true, false]) {
        const pool = newPool({ randomToken });
        await pool.clear();
        await pool.upload([accessToken('a'), accessToken('b'), accessToken('c')]);
        const [a, b, c] = await idsOf(pool);
        for (let i = 0; i < 10; i++) expect((await pool.lease({ exclude: new Set([a, b]) }))?.accountId).toBe(c);
        expect(await pool.lease({ exclude: new Set([a, b, c]) })).toBeNull();
      }
    });

    it('gives null for an empty pool or one without active accounts', async () => {
      const pool = newPool();
      expect(await pool.lease()).toBeNull();
      await pool.upload([accessToken('a')]);
      const [a] = await idsOf(pool);
      await pool.report(a, { kind: 'forbidden' });
      expect(await pool.lease()).toBeNull();
    });

    it('hands out the Team workspace id with the AccessToken', async () => {
      const pool = newPool();
      const token = accessToken('team');
      await pool.upload([`${token},acc-team-1`]);
      expect(await pool.lease()).toEqual({ accountId: expect.any(String), accessToken: token, chatgptAccountId: 'acc-team-1' });
    });

    it('marks an AccessToken account expired once its JWT has expired', async () => {
      const pool = newPool();
      await pool.upload([accessToken('short', 10 * MINUTE)]);
      expect(await pool.lease()).not.toBeNull();
      clock.advance(11 * MINUTE);
      expect(await pool.counts()).toMatchObject({ active: 0, expired: 1 });
      expect(await pool.lease()).toBeNull();
      expect(await pool.list()).toEqual([expect.objectContaining({ state: 'expired', stateReason: 'access token expired' })]);
    });
  });

  describe('outcomes', () => {
    let pool: TokenPoolService;
    let a: string;
    let b: string;
    beforeEach(async () => {
      pool = newPool({ randomToken: false });
      await pool.upload([accessToken('a'), accessToken('b')]);
      [a, b] = await idsOf(pool);
    });
    const stateOf = async (id: string) => (await pool.list()).find((account) => account.id === id)!;
    const leasedIds = async (times: number) => {
      const ids = new Set<string>();
      for (let i = 0; i < times; i++) ids.add((await pool.lease())?.accountId ?? 'none');
      return ids;
    };

    it('backs off 1 min, 5 min, then 30 min on consecutive rate limits, and recovers on its own', async () => {
      for (const backoff of [1, 5, 30, 30]) {
        await pool.report(a, { kind: 'rate_limited' });
        expect(await stateOf(a)).toMatchObject({ state: 'rate_limited', rateLimitedUntil: clock.now() + backoff * MINUTE });
        expect(await leasedIds(4)).toEqual(new Set([b]));
        clock.advance(backoff * MINUTE - 1000);
        expect(await leasedIds(4)).toEqual(new Set([b]));
        clock.advance(1000);
        expect(await stateOf(a)).toMatchObject({ state: 'active' });
        expect(await leasedIds(4)).toEqual(new Set([a, b]));
      }
      await pool.report(a, { kind: 'success' });
      await pool.report(a, { kind: 'rate_limited' });
      expect(await stateOf(a)).toMatchObject({ rateLimitedUntil: clock.now() + MINUTE });
    });

    it('uses the upstream reset hint when there is one', async () => {
      await pool.report(a, { kind: 'rate_limited', retryAfterSec: 3600 });
      expect(await stateOf(a)).toMatchObject({ state: 'rate_limited', rateLimitedUntil: clock.now() + HOUR });
      clock.advance(59 * MINUTE);
      expect(await leasedIds(4)).toEqual(new Set([b]));
      clock.advance(MINUTE);
      expect(await leasedIds(4)).toEqual(new Set([a, b]));
    });

    it('does not count requests already in flight as further strikes', async () => {
      await Promise.all([pool.report(a, { kind: 'rate_limited' }), pool.report(a, { kind: 'rate_limited' }), pool.report(a, { kind: 'rate_limited' })]);
      expect(await stateOf(a)).toMatchObject({ rateLimitedUntil: clock.now() + MINUTE });
    });

    it('disables on 403 and on a refused AccessToken until an admin restores the account', async () => {
      await pool.report(a, { kind: 'forbidden', reason: 'account deactivated' });
      await pool.report(b, { kind: 'unauthorized' });
      expect(await stateOf(a)).toMatchObject({ state: 'disabled', stateReason: 'account deactivated' });
      expect(await stateOf(b)).toMatchObject({ state: 'disabled', stateReason: 'access token rejected' });
      clock.advance(24 * HOUR - MINUTE);
      expect(await pool.lease()).toBeNull();
      expect(await pool.counts()).toEqual({ total: 2, active: 0, rate_limited: 0, expired: 0, disabled: 2 });
      expect(await pool.restore(a)).toBe(true);
      expect(await pool.restore('missing')).toBe(false);
      expect(await stateOf(a)).toMatchObject({ state: 'active', failures: 0 });
      expect(await stateOf(a)).not.toHaveProperty('stateReason');
      expect((await pool.lease())?.accountId).toBe(a);
    });

    it('disables an account whose credential cannot be sent, and counts a stalled attempt as a failure', async () => {
      await pool.report(a, { kind: 'unusable', reason: 'credential cannot be sent in an HTTP header' });
      await pool.report(b, { kind: 'failed', reason: 'stalled' });
      expect(await stateOf(a)).toMatchObject({ state: 'disabled', stateReason: 'credential cannot be sent in an HTTP header', failures: 1 });
      expect(await stateOf(b)).toMatchObject({ state: 'active', failures: 1 });
      for (let i = 0; i < 3; i++) expect((await pool.lease())?.accountId).toBe(b);
    });

    it('records use on success', async () => {
      await pool.report(a, { kind: 'success' });
      expect(await stateOf(a)).toMatchObject({ lastUsedAt: clock.now(), failures: 0 });
    });

    it('removes and clears accounts', async () => {
      expect(await pool.remove(a)).toBe(true);
      expect(await pool.remove(a)).toBe(false);
      expect(await idsOf(pool)).toEqual([b]);
      expect(await pool.clear()).toBe(1);
      expect(await pool.counts()).toMatchObject({ total: 0 });
    });

    it('never shows the raw credential', async () => {
      const views = JSON.stringify(await pool.list());
      expect(views).not.toContain((await store.getAccount(a))!.token);
      expect((await pool.list())[0].maskedToken).toMatch(/^eyJhbG…/);
    });
  });

  describe('upload', () => {
    it('counts added, duplicate and invalid lines, ignoring blanks and comments', async () => {
      const pool = newPool();
      const token = accessToken('a');
      const sameUser = fakeAccessToken({ userId: 'user-a', exp: clock.now() + HOUR });
      const result = await pool.upload(['# comment', '', `  ${token} `, token, sameUser, 'garbage', fakeRefreshToken('r1'), fakeRefreshToken('r1')]);
      expect(result).toEqual({ added: 2, duplicates: 3, invalid: 1, invalidLines: [6] });
      expect(await pool.upload([token, fakeRefreshToken('r1')])).toEqual({ added: 0, duplicates: 2, invalid: 0, invalidLines: [] });
    });

    it('refuses tokens that cannot be HTTP header values, naming their lines', async () => {
      const pool = newPool();
      const good = accessToken('a');
      const result = await pool.upload([good, 'fk-bad中token', `fk-bad\u0001token`, `${good.slice(0, 20)}\u00e9${good.slice(20)}`, 'rt_abcdefghijk\u007f', 'fk-ok-token']);
      expect(result).toEqual({ added: 2, duplicates: 0, invalid: 4, invalidLines: [2, 3, 4, 5] });
      expect((await pool.list()).map((account) => account.maskedToken)).toHaveLength(2);
    });

    it('keeps one user in two Team workspaces as two accounts, but not the same pair twice', async () => {
      const pool = newPool();
      const token = accessToken('a');
      const other = fakeAccessToken({ userId: 'user-a', exp: clock.now() + HOUR });
      expect(await pool.upload([`${token},acc-team-1`, `${other}:acc-team-2`, `${other},acc-team-1`])).toEqual({ added: 2, duplicates: 1, invalid: 0, invalidLines: [] });
    });

    it('gives every account a short stable id that is not the token', async () => {
      const pool = newPool();
      const token = accessToken('a');
      await pool.upload([token]);
      const [id] = await idsOf(pool);
      expect(id).toMatch(/^[A-Za-z0-9_-]{12}$/);
      await pool.clear();
      await pool.upload([token]);
      expect(await idsOf(pool)).toEqual([id]);
    });

    it('writes one batch at a time when uploads overlap', async () => {
      const pool = newPool();
      const tokens = Array.from({ length: 30 }, (_, index) => accessToken(`u${index}`));
      const results = await Promise.all([pool.upload(tokens), pool.upload(tokens.slice(10)), pool.upload(tokens.slice(0, 5))]);
      expect(results.reduce((sum, result) => sum + result.added, 0)).toBe(30);
      expect(await pool.counts()).toMatchObject({ total: 30, active: 30 });
    });
  });

  describe('RefreshToken accounts', () => {
    const rt = fakeRefreshToken('rt');

    it('exchanges on lease, reuses the AccessToken, and renews it 5 minutes before expiry', async () => {
      const pool = newPool();
      await pool.upload([rt]);
      const first = await pool.lease();
      expect(first).toEqual({ accountId: expect.any(String), accessToken: expect.stringMatching(/^eyJ/) });
      expect(await pool.lease()).toEqual(first);
      expect(server.requests).toHaveLength(1);
      expect((await pool.list())[0]).toMatchObject({ state: 'active', email: 'user@example.com', plan: 'plus', lastRefreshAt: clock.now() });
      clock.advance(56 * MINUTE);
      const renewed = await pool.lease();
      expect(server.requests).toHaveLength(2);
      expect(renewed?.accessToken).not.toBe(first?.accessToken);
    });

    it('disables the account when the RefreshToken is rejected', async () => {
      const pool = newPool();
      reply = () => ({ status: 400, body: { error: 'invalid_grant' } });
      await pool.upload([rt, accessToken('b')]);
      const [rtId, atId] = await idsOf(pool);
      for (let i = 0; i < 4; i++) expect((await pool.lease())?.accountId).toBe(atId);
      expect((await pool.list()).find((account) => account.id === rtId)).toMatchObject({ state: 'disabled', stateReason: 'refresh token rejected (invalid_grant)' });
      expect(server.requests).toHaveLength(1);
    });

    it('leaves the account alone when the auth server is down', async () => {
      const pool = newPool();
      reply = () => ({ status: 503, body: 'unavailable' });
      await pool.upload([rt]);
      expect(await pool.lease()).toBeNull();
      expect((await pool.list())[0]).toMatchObject({ state: 'active', failures: 1 });
      reply = () => ({ status: 200, body: { access_token: fakeAccessToken({ exp: clock.now() + HOUR }) } });
      expect(await pool.lease()).not.toBeNull();
      expect((await pool.list())[0]).toMatchObject({ failures: 0 });
    });

    it('stores a rotated RefreshToken in place of the old one, under the same id', async () => {
      const pool = newPool();
      const rotated = 'rt_rotated-refresh-token-0001';
      reply = () => ({ status: 200, body: { access_token: fakeAccessToken({ exp: clock.now() + HOUR }), refresh_token: rotated } });
      await pool.upload([rt]);
      const [id] = await idsOf(pool);
      await pool.lease();
      expect(await store.getAccount(id)).toMatchObject({ token: rotated, kind: 'refresh_token' });
      reply = () => ({ status: 200, body: { access_token: fakeAccessToken({ exp: clock.now() + HOUR }) } });
      await pool.refresh({ force: true });
      expect(server.requests.map((request) => request.refresh_token)).toEqual([rt, rotated]);
      expect(await pool.upload([rotated])).toMatchObject({ duplicates: 1 });
    });

    it('refreshes at once when the upstream refuses the AccessToken', async () => {
      const pool = newPool();
      await pool.upload([rt]);
      const first = (await pool.lease())!;
      await Promise.all([pool.report(first.accountId, { kind: 'unauthorized' }), pool.report(first.accountId, { kind: 'unauthorized' })]);
      expect(server.requests).toHaveLength(2);
      const second = (await pool.lease())!;
      expect(second.accessToken).not.toBe(first.accessToken);
      expect((await pool.list())[0]).toMatchObject({ state: 'active' });
    });

    it('refreshes only what is due unless forced, a few at a time', async () => {
      const pool = newPool({ refreshConcurrency: 2 });
      let running = 0;
      let peak = 0;
      reply = () => {
        peak = Math.max(peak, ++running);
        setTimeout(() => running--, 25);
        return { status: 200, body: { access_token: fakeAccessToken({ exp: clock.now() + HOUR }) }, delayMs: 30 };
      };
      await pool.upload([fakeRefreshToken('r1'), fakeRefreshToken('r2'), fakeRefreshToken('r3'), fakeRefreshToken('r4'), accessToken('at')]);
      expect(await pool.refresh()).toEqual({ attempted: 4, refreshed: 4, failed: 0, disabled: 0, skipped: 1 });
      expect(peak).toBe(2);
      expect(await pool.refresh()).toEqual({ attempted: 0, refreshed: 0, failed: 0, disabled: 0, skipped: 5 });
      expect(await pool.refresh({ force: true })).toEqual({ attempted: 4, refreshed: 4, failed: 0, disabled: 0, skipped: 1 });
      const [first] = await idsOf(pool);
      expect(await pool.refresh({ id: first, force: true })).toMatchObject({ attempted: 1, refreshed: 1 });
      expect(server.requests).toHaveLength(9);
    });
  });

  describe('seeds', () => {
    it('keeps a seed on one account while it is active, then moves it, and remembers that across restarts', async () => {
      const pool = newPool({ randomToken: true });
      await pool.upload([accessToken('a'), accessToken('b'), accessToken('c')]);
      const first = (await pool.leaseForSeed('my-seed')) as { accountId: string };
      for (let i = 0; i < 10; i++) expect(await pool.leaseForSeed('my-seed')).toMatchObject({ accountId: first.accountId });

      await pool.report(first.accountId, { kind: 'forbidden' });
      const moved = (await pool.leaseForSeed('my-seed')) as { accountId: string };
      expect(moved.accountId).not.toBe(first.accountId);
      for (let i = 0; i < 10; i++) expect(await pool.leaseForSeed('my-seed')).toMatchObject({ accountId: moved.accountId });
      await pool.restore(first.accountId);
      expect(await pool.leaseForSeed('my-seed')).toMatchObject({ accountId: moved.accountId });

      const restarted = newPool({ randomToken: true }, new FileAccountStore({ dataDir }));
      expect(await restarted.leaseForSeed('my-seed')).toMatchObject({ accountId: moved.accountId });
      expect(await restarted.listSeeds()).toEqual([{ id: seedIdFor('my-seed'), maskedSeed: 'my…(7)', accountId: moved.accountId, conversations: 0 }]);
    });

    it('moves a seed off a rate-limited or removed account', async () => {
      const pool = newPool({ randomToken: false });
      await pool.upload([accessToken('a'), accessToken('b'), accessToken('c')]);
      const first = (await pool.leaseForSeed('s')) as { accountId: string };
      await pool.report(first.accountId, { kind: 'rate_limited' });
      const second = (await pool.leaseForSeed('s')) as { accountId: string };
      expect(second.accountId).not.toBe(first.accountId);
      await pool.remove(second.accountId);
      const third = (await pool.leaseForSeed('s')) as { accountId: string };
      expect([first.accountId, second.accountId]).not.toContain(third.accountId);
    });

    it('serves a retry from another account without moving the seed', async () => {
      const pool = newPool();
      await pool.upload([accessToken('a'), accessToken('b')]);
      const first = (await pool.leaseForSeed('s')) as { accountId: string };
      const retry = (await pool.leaseForSeed('s', { exclude: new Set([first.accountId]) })) as { accountId: string };
      expect(retry.accountId).not.toBe(first.accountId);
      expect(await pool.leaseForSeed('s')).toMatchObject({ accountId: first.accountId });
      expect(await pool.leaseForSeed('s', { exclude: new Set((await idsOf(pool))) })).toBeNull();
    });

    it('gives null, not a wrong answer, while the pool is empty, and binds the seed once accounts arrive', async () => {
      const pool = newPool();
      expect(await pool.leaseForSeed('early')).toBeNull();
      await pool.upload([accessToken('a')]);
      expect(await pool.leaseForSeed('early')).toMatchObject({ accountId: (await idsOf(pool))[0] });
    });

    it('with AUTO_SEED=false accepts only seeds an admin created', async () => {
      const pool = newPool({ autoSeed: false });
      await pool.upload([accessToken('a')]);
      expect(await pool.leaseForSeed('unknown')).toBe('invalid_seed');
      expect(await pool.createSeed('panel-user')).toBe('panel-user');
      expect(await pool.leaseForSeed('panel-user')).toMatchObject({ accountId: (await idsOf(pool))[0] });
      const generated = await pool.createSeed();
      expect(generated).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect(await pool.leaseForSeed(generated)).not.toBe('invalid_seed');
      expect(await pool.listSeeds()).toHaveLength(2);
      expect(await pool.removeSeed('panel-user')).toBe(true);
      expect(await pool.removeSeed('panel-user')).toBe(false);
      expect(await pool.leaseForSeed('panel-user')).toBe('invalid_seed');
    });

    it('refuses seeds that are real credentials or pool keys', async () => {
      const pool = newPool({ authorization: ['pool-key-1'] });
      await expect(pool.createSeed(accessToken('a'))).rejects.toMatchObject({ code: 'invalid_seed' });
      await expect(pool.createSeed('pool-key-1')).rejects.toMatchObject({ code: 'invalid_seed' });
    });

    it('tracks the conversations a seed created', async () => {
      const pool = newPool();
      await pool.createSeed('s');
      await pool.recordSeedConversation('s', 'c1');
      await pool.recordSeedConversation('s', 'c2');
      await pool.recordSeedConversation('s', 'c1');
      expect(await pool.seedConversations('s')).toEqual(['c1', 'c2']);
      expect(await pool.seedConversations('unknown')).toEqual([]);
      expect((await pool.listSeeds())[0]).toMatchObject({ conversations: 2 });
    });
  });
});
