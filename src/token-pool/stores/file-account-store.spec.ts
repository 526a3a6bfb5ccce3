import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { spawn, spawnSync } from 'node:child_process';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeAccessToken, fakeRefreshToken } from '../testing/fixtures';
import { describeAccountStoreContract } from './account-store.contract';
import { StartProblem } from '../../common/startup/start-problem';
import { processIdentity, systemOwnerProbe, type ProcessIdentity } from './data-dir-owner';
import { CorruptDataFileError, FileAccountStore } from './file-account-store';
import { MAX_SEED_CONVERSATIONS } from '../pool.types';

const newDir = () => mkdtemp(join(tmpdir(), 'flowgpt-store-'));

describeAccountStoreContract('FileAccountStore', async () => {
  const dataDir = await newDir();
  return {
    open: async () => {
      const store = new FileAccountStore({ dataDir });
      await store.open();
      return store;
    },
    makeUnavailable: () => rm(dataDir, { recursive: true, force: true }),
    cleanup: () => rm(dataDir, { recursive: true, force: true }),
  };
});

describe('FileAccountStore files', () => {
  let dataDir: string;
  beforeEach(async () => (dataDir = await newDir()));
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  const record = (id: string) => ({
    id,
    kind: 'access_token' as const,
    token: `t-${id}`,
    state: 'active' as const,
    rateLimitStrikes: 0,
    failures: 0,
    addedAt: 1,
  });

  it('never lets a torn temp file replace the real one', async () => {
    const store = new FileAccountStore({ dataDir });
    await store.addAccounts([record('a'), record('b')]);
    await store.updateSeed('seed', () => ({ seed: 'seed', accountId: 'a', conversations: [], createdAt: 1 }));
    await store.close();
    // A crash in the middle of a write leaves a half-written temp file beside the real one.
    await writeFile(join(dataDir, 'accounts.json.999.deadbeef.tmp'), '{"version":1,"accounts":[{"id":"a","tok');
    await writeFile(join(dataDir, 'seeds.json.999.cafe.tmp'), '');

    const restarted = new FileAccountStore({ dataDir });
    expect((await restarted.listAccounts()).map((account) => account.id)).toEqual(['a', 'b']);
    expect(await restarted.getSeed('seed')).toMatchObject({ accountId: 'a' });
    expect((await readdir(dataDir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('leaves no temp files behind and keeps the files private', async () => {
    const store = new FileAccountStore({ dataDir });
    await Promise.all([
      store.addAccounts([record('a')]),
      store.setMeta('k', 'v'),
      store.updateSeed('s', () => ({ seed: 's', accountId: null, conversations: [], createdAt: 1 })),
    ]);
    expect((await readdir(dataDir)).sort()).toEqual(['accounts.json', 'flowgpt.pid', 'meta.json', 'seeds.json']);
    const { mode } = await import('node:fs/promises').then((fs) => fs.stat(join(dataDir, 'accounts.json')));
    expect(mode & 0o077).toBe(0);
  });

  it('refuses to open over a file it cannot read, instead of starting empty', async () => {
    await writeFile(join(dataDir, 'accounts.json'), '{"version":1,"accounts":[');
    await expect(new FileAccountStore({ dataDir }).open()).rejects.toThrow(CorruptDataFileError);
    expect(await readFile(join(dataDir, 'accounts.json'), 'utf8')).toBe('{"version":1,"accounts":[');
  });

  it.each([
    ['accounts.json', { version: 1 }, '"accounts" is not a list'],
    ['accounts.json', { version: 1, accounts: [null] }, 'account 1 has no valid id'],
    ['accounts.json', { version: 1, accounts: [{ id: 5 }, { foo: 'bar' }] }, 'account 1 has no valid id'],
    ['seeds.json', { version: 1, seeds: [] }, '"seeds" is not an object'],
    ['seeds.json', { version: 1, seeds: { s: { accountId: null } } }, 'a seed has no conversation list'],
    ['meta.json', { version: 1, meta: { k: 5 } }, 'a meta value is not a string'],
  ])('refuses %s whose JSON parses but whose records do not fit: %j', async (name, content, problem) => {
    await writeFile(join(dataDir, name), JSON.stringify(content));
    const opened = new FileAccountStore({ dataDir }).open();
    await expect(opened).rejects.toThrow(CorruptDataFileError);
    await expect(opened).rejects.toThrow(problem);
    expect(JSON.parse(await readFile(join(dataDir, name), 'utf8'))).toEqual(content);
  });

  const unusable = (dir: string, reason: string) =>
    new StartProblem(
      `DATA_DIR ${dir} cannot be used (${reason}): fix the folder or its permissions (the user that runs FlowGPT must be able ` +
        'to read and write it and its files), or set DATA_DIR to a writable folder',
    );

  it.each([
    ['a symbolic link to a folder that does not exist', 'ENOENT: a symbolic link on the way points to nothing'],
    ['a symbolic link to itself', 'ELOOP: symbolic links on the way point at each other'],
  ])('refuses a DATA_DIR that is %s with one line saying what to do', async (_case, reason) => {
    const link = join(dataDir, 'data');
    await symlink(reason.startsWith('ENOENT') ? join(dataDir, 'gone', 'data') : link, link);
    await expect(new FileAccountStore({ dataDir: link }).open()).rejects.toThrow(unusable(link, reason));
  });

  // Files another user made (a first start as root, say) fail the same way with EACCES, which a test run as root cannot make.
  it.each(['accounts.json', 'token.txt'])('refuses a DATA_DIR whose %s cannot be read as a file, with one line naming it', async (name) => {
    await mkdir(join(dataDir, name));
    await expect(new FileAccountStore({ dataDir }).open()).rejects.toThrow(
      unusable(dataDir, `EISDIR on ${join(dataDir, name)}: a folder is in the way`),
    );
  });

  describe('one process per DATA_DIR', () => {
    const ownerFile = () => join(dataDir, 'flowgpt.pid');
    const owner = async () => JSON.parse(await readFile(ownerFile(), 'utf8')) as ProcessIdentity;
    const refusal = (pid: number | undefined) =>
      new StartProblem(
        `DATA_DIR ${dataDir} is in use by another FlowGPT (pid ${pid}): stop it, give this one another DATA_DIR, or share one pool between instances with REDIS_URL`,
      );
    const runningNode = () => spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);

    it('names itself while open, with its boot and start time, and lets go when closed', async () => {
      const store = new FileAccountStore({ dataDir });
      await store.open();
      expect(await owner()).toEqual(processIdentity(process.pid));
      expect(await owner()).toEqual({
        pid: process.pid,
        host: hostname(),
        bootId: expect.any(String),
        startedAt: expect.stringMatching(/^\d+$/),
      });
      await store.close();
      await expect(readFile(ownerFile())).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('refuses a folder a running process on this host owns, named with its start time or, by an older FlowGPT, by its pid alone', async () => {
      const running = runningNode();
      try {
        for (const named of [processIdentity(running.pid!), { pid: running.pid, host: hostname() }]) {
          await writeFile(ownerFile(), JSON.stringify(named));
          await expect(new FileAccountStore({ dataDir }).open()).rejects.toThrow(refusal(running.pid));
          expect(await owner()).toEqual(named);
        }
      } finally {
        running.kill();
      }
    });

    it('takes over what a process that is gone, another host, or a process that is no FlowGPT left', async () => {
      const gone = spawnSync(process.execPath, ['-e', '0']).pid;
      // A pid given since to an unrelated process (after a kill -9 and a reboot, say).
      const unrelated = spawn('sleep', ['60']);
      try {
        const leftovers = [
          { pid: gone, host: hostname() },
          { pid: process.ppid, host: 'another-host' },
          { pid: unrelated.pid, host: hostname() },
          'not json',
        ];
        for (const left of leftovers) {
          await writeFile(ownerFile(), typeof left === 'string' ? left : JSON.stringify(left));
          const store = new FileAccountStore({ dataDir });
          await store.open();
          expect(await owner()).toEqual(processIdentity(process.pid));
          await store.close();
        }
      } finally {
        unrelated.kill();
      }
    });

    // After a crash and a container restart, the same small pids are handed out again: the one in the owner file may now
    // be a running Node process (another program, this start's `npm` or `nest` wrapper, or this very process).
    it('takes over from a pid given since to another running process, its parent, or itself', async () => {
      const running = runningNode();
      try {
        const itsOwn = processIdentity(running.pid!);
        const mine = processIdentity(process.pid);
        const leftovers = [
          { ...itsOwn, startedAt: String(Number(itsOwn.startedAt) - 1) },
          { ...itsOwn, bootId: 'a-boot-before-this-one' },
          { pid: process.ppid, host: hostname() },
          { ...processIdentity(process.ppid), startedAt: '1' },
          { ...mine, startedAt: '1' },
        ];
        for (const left of leftovers) {
          await writeFile(ownerFile(), JSON.stringify(left));
          const store = new FileAccountStore({ dataDir });
          await store.open();
          expect(await owner()).toEqual(mine);
          await store.close();
        }
      } finally {
        running.kill();
      }
    });

    it('where there is no /proc (macOS), names itself by pid and host, and tells a running owner from a gone one by its pid', async () => {
      const ownerProbe = systemOwnerProbe(join(dataDir, 'no-proc-here'));
      const running = runningNode();
      const gone = spawnSync(process.execPath, ['-e', '0']).pid;
      try {
        await writeFile(ownerFile(), JSON.stringify({ ...processIdentity(running.pid!), startedAt: '1' }));
        await expect(new FileAccountStore({ dataDir, ownerProbe }).open()).rejects.toThrow(refusal(running.pid));
        await writeFile(ownerFile(), JSON.stringify({ pid: gone, host: hostname() }));
        const store = new FileAccountStore({ dataDir, ownerProbe });
        await store.open();
        expect(await owner()).toEqual({ pid: process.pid, host: hostname() });
        await store.close();
      } finally {
        running.kill();
      }
    });

    it('leaves an owner file that is no longer its own when it closes', async () => {
      const store = new FileAccountStore({ dataDir });
      await store.open();
      const other = JSON.stringify({ pid: process.pid + 1, host: hostname() });
      await writeFile(ownerFile(), other);
      await store.close();
      expect(await readFile(ownerFile(), 'utf8')).toBe(other);
    });
  });

  it('imports the reference token.txt on first start, once', async () => {
    const accessToken = fakeAccessToken({ userId: 'user-1', exp: Date.UTC(2099, 0, 1) });
    const rejected = fakeRefreshToken('rejected');
    const lines = [
      '# pool',
      '',
      `  ${accessToken}  `,
      accessToken,
      fakeRefreshToken('good'),
      'rt_AbCdEfGhIjKlMnOp',
      `${fakeRefreshToken('team')},7d6c5b4a-3f2e-4d1c-9b0a-112233445566`,
      rejected,
      'not a token',
    ];
    await writeFile(join(dataDir, 'token.txt'), lines.join('\n'));
    await writeFile(join(dataDir, 'error_token.txt'), `${rejected}\n`);

    const store = new FileAccountStore({ dataDir, now: () => 1000 });
    const accounts = await store.listAccounts();
    expect(accounts.map((account) => [account.kind, account.state])).toEqual([
      ['access_token', 'active'],
      ['refresh_token', 'active'],
      ['refresh_token', 'active'],
      ['refresh_token', 'active'],
      ['refresh_token', 'disabled'],
    ]);
    expect(accounts[0]).toMatchObject({ token: accessToken, userId: 'user-1', addedAt: 1000 });
    expect(accounts[3]).toMatchObject({ chatgptAccountId: '7d6c5b4a-3f2e-4d1c-9b0a-112233445566' });
    const names = await readdir(dataDir);
    expect(names).toEqual(expect.arrayContaining(['token.txt.imported', 'error_token.txt.imported', 'accounts.json']));
    expect(names).not.toContain('token.txt');

    // A token.txt that appears later is not imported again over existing accounts.
    await writeFile(join(dataDir, 'token.txt'), fakeRefreshToken('later'));
    expect(await new FileAccountStore({ dataDir }).listAccounts()).toHaveLength(5);
  });

  it("imports the reference's seed_map.json with token.txt, each seed bound to the account of its token", async () => {
    const pooled = fakeRefreshToken('pooled');
    await writeFile(join(dataDir, 'token.txt'), `${pooled}\n`);
    const seedMap = {
      'shared-seed-1': { token: pooled, conversations: ['conv-2', 'conv-1', 7], user_id: 'user-x' },
      // The reference kept a seed percent-encoded, as its sign-in cookie.
      'seed%2Bplus%21': { token: pooled, conversations: [] },
      'not-in-pool-seed': { token: fakeRefreshToken('gone'), conversations: ['conv-3'] },
      short: { token: pooled, conversations: [] },
      'no-record-seed': null,
    };
    await writeFile(join(dataDir, 'seed_map.json'), JSON.stringify(seedMap));

    const store = new FileAccountStore({ dataDir, now: () => 1000 });
    const [account] = await store.listAccounts();
    const seeds = await store.listSeeds();
    expect(seeds.map(({ seed, accountId, conversations, createdBy }) => [seed, accountId, conversations, createdBy])).toEqual([
      ['shared-seed-1', account.id, ['conv-2', 'conv-1'], 'admin'],
      ['seed+plus!', account.id, [], 'admin'],
      ['not-in-pool-seed', null, ['conv-3'], 'admin'],
    ]);
    const names = await readdir(dataDir);
    expect(names).toEqual(expect.arrayContaining(['seed_map.json.imported', 'seeds.json']));
    expect(names).not.toContain('seed_map.json');

    // Read again after a restart: from seeds.json, not imported twice.
    await writeFile(join(dataDir, 'seed_map.json'), JSON.stringify({ 'later-seed-1': { token: pooled, conversations: [] } }));
    expect((await new FileAccountStore({ dataDir }).listSeeds()).map(({ seed }) => seed)).toEqual([
      'shared-seed-1',
      'seed+plus!',
      'not-in-pool-seed',
    ]);
  });

  it('refuses to start over a seed_map.json that is not JSON, naming it', async () => {
    await writeFile(join(dataDir, 'token.txt'), `${fakeRefreshToken('pooled')}\n`);
    await writeFile(join(dataDir, 'seed_map.json'), '{not json');
    await expect(new FileAccountStore({ dataDir }).listSeeds()).rejects.toThrow(/seed_map\.json/);
  });

  it('leaves out of the seed_map.json import what may not be a seed: a token, or a secret this server is given', async () => {
    const pooled = fakeRefreshToken('pooled');
    await writeFile(join(dataDir, 'token.txt'), `${pooled}\n`);
    const entry = { token: pooled, conversations: [] };
    await writeFile(
      join(dataDir, 'seed_map.json'),
      JSON.stringify({ [fakeRefreshToken('as-seed')]: entry, 'the-admin-secret': entry, 'a-pool-key-1': entry, 'shared-seed-1': entry }),
    );
    const refusedSeed = (seed: string) => ['the-admin-secret', 'a-pool-key-1'].includes(seed);
    const store = new FileAccountStore({ dataDir, refusedSeed });
    expect((await store.listSeeds()).map(({ seed }) => seed)).toEqual(['shared-seed-1']);
  });

  it("keeps an imported seed's newest conversations only, as many as a seed keeps", async () => {
    const pooled = fakeRefreshToken('pooled');
    await writeFile(join(dataDir, 'token.txt'), `${pooled}\n`);
    const conversations = Array.from({ length: MAX_SEED_CONVERSATIONS + 500 }, (_, index) => `conv-${index}`);
    await writeFile(join(dataDir, 'seed_map.json'), JSON.stringify({ 'shared-seed-1': { token: pooled, conversations } }));
    const [seed] = await new FileAccountStore({ dataDir }).listSeeds();
    expect(seed.conversations).toEqual(conversations.slice(0, MAX_SEED_CONVERSATIONS));
  });

  it('imports seed_map.json at the start after a failed one, once the file is repaired', async () => {
    const pooled = fakeRefreshToken('pooled');
    await writeFile(join(dataDir, 'token.txt'), `${pooled}\n`);
    await writeFile(join(dataDir, 'seed_map.json'), '{"shared-seed-1": {"token": "torn');
    await expect(new FileAccountStore({ dataDir }).listSeeds()).rejects.toThrow(/seed_map\.json/);

    // The tokens went in before the seeds failed; the operator repairs seed_map.json and starts again.
    await writeFile(join(dataDir, 'seed_map.json'), JSON.stringify({ 'shared-seed-1': { token: pooled, conversations: ['conv-1'] } }));
    const store = new FileAccountStore({ dataDir });
    const [account] = await store.listAccounts();
    expect((await store.listSeeds()).map(({ seed, accountId }) => [seed, accountId])).toEqual([['shared-seed-1', account.id]]);
    expect(await readdir(dataDir)).toContain('seed_map.json.imported');
  });

  it('reads a token.txt and error_token.txt whose lines end in a lone CR (an old Mac file) one token a line, as an upload is split', async () => {
    const rejected = fakeRefreshToken('rejected');
    await writeFile(
      join(dataDir, 'token.txt'),
      ['# pool', fakeRefreshToken('good'), rejected, fakeRefreshToken('crlf')].join('\r') + '\r\n',
    );
    await writeFile(join(dataDir, 'error_token.txt'), `${fakeRefreshToken('other')}\r${rejected}\r`);

    const accounts = await new FileAccountStore({ dataDir, now: () => 1000 }).listAccounts();
    expect(accounts.map((account) => [account.token, account.state])).toEqual([
      [fakeRefreshToken('good'), 'active'],
      [rejected, 'disabled'],
      [fakeRefreshToken('crlf'), 'active'],
    ]);
  });
});
