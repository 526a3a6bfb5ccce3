import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FILE_POOL_IMPORT_KEY, importFilePool } from './file-pool-import';
import type { AccountRecord } from './pool.types';
import { credentialHash, RotationLinks, STORED_ROTATION_TTL_MS } from './rotation-links';
import type { AccountStore } from './stores/account-store';
import { FileAccountStore } from './stores/file-account-store';
import { FakeClock } from './testing/fake-clock';
import { fakeRefreshToken } from './testing/fixtures';
import { redisHarness } from './testing/redis-harness';

const DAY = 24 * 3_600_000;

function account(id: string, token: string): AccountRecord {
  return { id, kind: 'refresh_token', token, state: 'active', rateLimitStrikes: 0, failures: 0, addedAt: Number(id.slice(-1)) };
}

describe('importFilePool', () => {
  const clock = new FakeClock();
  let dataDir: string;
  let harness: Awaited<ReturnType<typeof redisHarness>>;
  let redis: AccountStore;

  beforeEach(async () => {
    clock.set(Date.UTC(2030, 0, 1));
    dataDir = await mkdtemp(join(tmpdir(), 'flowgpt-import-'));
    harness = await redisHarness();
    redis = await harness.open();
  });
  afterEach(async () => {
    await harness.cleanup();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** A file store's pool: two accounts, a seed bound to the first, and a RefreshToken rotation stored a day ago. */
  async function filePool() {
    const files = new FileAccountStore({ dataDir, now: () => clock.now() });
    const tokens = [fakeRefreshToken('account-1'), fakeRefreshToken('account-2')];
    await files.addAccounts([account('acct-1', tokens[0]), account('acct-2', tokens[1])]);
    await files.updateSeed('a-seed-value', () => ({ seed: 'a-seed-value', accountId: 'acct-1', conversations: ['c1'], createdAt: 1 }));
    const links = new RotationLinks('refresh-token', clock, files);
    links.link('rt-spent-by-a-client', 'rt-its-newest');
    await links.keep('rt-spent-by-a-client');
    // A rotation whose time is up is not copied.
    await files.setMeta('rotation:session-token:gone', 'whatever', 1_000);
    await files.setMeta('refresh-job', 'not a rotation');
    await files.close();
    clock.advance(DAY);
    return tokens;
  }

  const fileState = async () =>
    Promise.all(
      ['accounts.json', 'seeds.json', 'meta.json'].map(async (name) => {
        const path = join(dataDir, name);
        return { name, text: await readFile(path, 'utf8'), modified: (await stat(path)).mtimeMs };
      }),
    );

  it('copies the accounts, seeds and stored rotations (with the time they have left) into an empty Redis pool, and the files stay as they were', async () => {
    const tokens = await filePool();
    const before = await fileState();

    const outcome = await importFilePool(redis, dataDir, () => clock.now());

    expect(outcome).toEqual({
      outcome: 'imported',
      record: { at: clock.now(), dataDir, accounts: 2, seeds: 1, rotations: 1 },
      accounts: [
        { id: 'acct-1', kind: 'refresh_token', maskedToken: expect.stringContaining('…') },
        { id: 'acct-2', kind: 'refresh_token', maskedToken: expect.stringContaining('…') },
      ],
    });
    for (const secret of tokens) expect(JSON.stringify(outcome)).not.toContain(secret);
    expect((await redis.listAccounts()).map((record) => [record.id, record.token])).toEqual([
      ['acct-1', tokens[0]],
      ['acct-2', tokens[1]],
    ]);
    expect(await redis.getSeed('a-seed-value')).toEqual({ seed: 'a-seed-value', accountId: 'acct-1', conversations: ['c1'], createdAt: 1 });
    expect(await new RotationLinks('refresh-token', clock, redis).newest('rt-spent-by-a-client')).toBe('rt-its-newest');
    const rotationKey = `${harness.prefix}meta:rotation:refresh-token:${credentialHash('rt-spent-by-a-client')}`;
    // Redis counts the time left down in real time from the import on.
    const left = await harness.connectionOf(redis).client.pttl(rotationKey);
    expect(left).toBeLessThanOrEqual(STORED_ROTATION_TTL_MS - DAY);
    expect(left).toBeGreaterThan(STORED_ROTATION_TTL_MS - 2 * DAY);
    expect(await redis.getMeta('refresh-job')).toBeNull();
    expect(await redis.getMeta('rotation:session-token:gone')).toBeNull();
    expect(await fileState()).toEqual(before);
  });

  it('runs once: a pool emptied since is not filled again from the files', async () => {
    await filePool();
    expect((await importFilePool(redis, dataDir, () => clock.now())).outcome).toBe('imported');
    await redis.clearAccounts();
    expect(await importFilePool(redis, dataDir, () => clock.now())).toMatchObject({ outcome: 'imported_before', record: { accounts: 2 } });
    expect(await redis.listAccounts()).toEqual([]);
  });

  it('imports once when several instances start together', async () => {
    await filePool();
    const instances = [redis, await harness.open(), await harness.open()];
    const outcomes = await Promise.all(instances.map((store) => importFilePool(store, dataDir, () => clock.now())));
    expect(outcomes.map((result) => result.outcome).sort()).toEqual(['imported', 'imported_before', 'imported_before']);
    expect(await redis.listAccounts()).toHaveLength(2);
  });

  it('leaves a Redis pool that holds accounts as it is, and writes no record', async () => {
    await filePool();
    await redis.addAccounts([account('acct-9', fakeRefreshToken('account-9'))]);
    expect(await importFilePool(redis, dataDir, () => clock.now())).toEqual({ outcome: 'pool_not_empty', accounts: 1 });
    expect((await redis.listAccounts()).map((record) => record.id)).toEqual(['acct-9']);
    expect(await redis.getSeed('a-seed-value')).toBeNull();
    expect(await redis.getMeta(FILE_POOL_IMPORT_KEY)).toBeNull();
  });

  it('keeps the seeds Redis holds, which do not stop the import (as after one cut short before its accounts)', async () => {
    await filePool();
    await redis.updateSeed('a-seed-value', () => ({ seed: 'a-seed-value', accountId: null, conversations: [], createdAt: 5 }));
    expect((await importFilePool(redis, dataDir, () => clock.now())).outcome).toBe('imported');
    expect(await redis.getSeed('a-seed-value')).toMatchObject({ accountId: null, createdAt: 5 });
    expect(await redis.listAccounts()).toHaveLength(2);
  });

  it('says there is nothing to import when DATA_DIR holds no pool', async () => {
    expect(await importFilePool(redis, dataDir, () => clock.now())).toEqual({ outcome: 'nothing_to_import', dataDir });
    expect(await redis.getMeta(FILE_POOL_IMPORT_KEY)).toBeNull();
  });
});
