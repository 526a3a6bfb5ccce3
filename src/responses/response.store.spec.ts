import { Redis } from 'ioredis';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SharedState } from '../common/shared-state/shared-state';
import { StartProblem } from '../common/startup/start-problem';
import { redisTestConnections, TEST_REDIS_URL } from '../common/shared-state/testing/redis-test-connections';
import type { AppConfig } from '../config/app-config';
import { FakeClock } from '../token-pool/testing/fake-clock';
import { ResponseStore } from './response.store';
import type { ResponseObject } from './response-shapes';

const response = (id: string) => ({ id, object: 'response', output: [] }) as unknown as ResponseObject;
const config = (max: number, dataDir?: string) =>
  ({ responsesStoreMax: max, responsesStoreTtlSec: 3600, ...(dataDir ? { dataDir } : {}) }) as AppConfig;

describe.each([
  ['in memory', 'memory'],
  ['in files', 'files'],
  ['in Redis', 'redis'],
])('ResponseStore (%s)', (_name, kind) => {
  const useRedis = kind === 'redis';
  const redis = redisTestConnections();
  const clock = new FakeClock(1_700_000_000_000);
  let dataDir: string | undefined;
  /** A store; on Redis or files each call is a new instance on the same data, as after a restart. */
  const store = async (max = 10) => {
    const opened = new ResponseStore(config(max, dataDir), new SharedState(useRedis ? await redis.open() : null, redis.prefix), clock);
    await opened.onModuleInit();
    return opened;
  };

  beforeAll(async () => {
    if (kind === 'files') dataDir = await mkdtemp(join(tmpdir(), 'flowgpt-responses-'));
  });

  afterAll(async () => {
    await redis.cleanup();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('gives a response only to the key that stored it', async () => {
    const responses = await store();
    await responses.save({ owner: 'a', response: response('resp_1'), continuation: { conversationId: 'c', parentMessageId: 'm' } });
    expect((await responses.find('resp_1', 'a'))?.continuation).toEqual({ conversationId: 'c', parentMessageId: 'm' });
    expect(await responses.find('resp_1', 'b')).toBeUndefined();
    expect(await responses.find('resp_2', 'a')).toBeUndefined();
  });

  it('deletes a response only for the key that stored it', async () => {
    const responses = await store();
    await responses.save({ owner: 'a', response: response('resp_del') });
    expect(await responses.delete('resp_del', 'b')).toBe(false);
    expect(await responses.find('resp_del', 'a')).toBeDefined();
    expect(await responses.delete('resp_del', 'a')).toBe(true);
    expect(await (await store()).find('resp_del', 'a')).toBeUndefined();
    expect(await responses.delete('resp_del', 'a')).toBe(false);
  });

  it('replaces a response only while it is stored: one deleted meanwhile stays deleted', async () => {
    const one = await store();
    const other = useRedis ? await store() : one;
    const running = { ...response('resp_running'), status: 'in_progress' } as ResponseObject;
    await one.save({ owner: 'a', response: running });
    const done = { owner: 'a', response: { ...running, status: 'completed' } as ResponseObject };
    expect(await one.replace(done)).toBe(true);
    expect((await other.find('resp_running', 'a'))?.response.status).toBe('completed');

    expect(await other.delete('resp_running', 'a')).toBe(true);
    expect(await one.replace(done)).toBe(false);
    expect(await one.find('resp_running', 'a')).toBeUndefined();
    expect(await (await store()).find('resp_running', 'a')).toBeUndefined();
  });

  it('keeps copies, so a caller changing its object does not change what is stored', async () => {
    const responses = await store();
    const kept = response('resp_copy');
    await responses.save({ owner: 'a', response: kept });
    kept.output.push({ type: 'reasoning', id: 'rs', summary: [] });
    (await responses.find('resp_copy', 'a'))!.response.output.push({ type: 'reasoning', id: 'rs', summary: [] });
    expect((await responses.find('resp_copy', 'a'))!.response.output).toEqual([]);
  });

  it('forgets a response after RESPONSES_STORE_TTL_SEC', async () => {
    const responses = await store();
    await responses.save({ owner: 'a', response: response('resp_old') });
    if (useRedis) {
      // Redis keeps time itself: the key's time to live is what is checked.
      const client = new Redis(TEST_REDIS_URL);
      const ttl = await client.pttl(`${redis.prefix}response:resp_old`);
      client.disconnect();
      expect(ttl).toBeGreaterThan(3_500_000);
      expect(ttl).toBeLessThanOrEqual(3_600_000);
    } else {
      clock.advance(3_600_001);
      expect(await responses.find('resp_old', 'a')).toBeUndefined();
    }
  });

  if (kind !== 'memory') {
    it('is one store for every instance on the same data, and outlives a restart', async () => {
      const one = await store();
      // The files have one owner at a time (the DATA_DIR's pid file): the next one opens after the save.
      const two = kind === 'redis' ? await store() : undefined;
      await one.save({ owner: 'a', response: response('resp_shared'), continuation: { conversationId: 'c', parentMessageId: 'm' } });
      const other = two ?? (await store());
      expect((await other.find('resp_shared', 'a'))?.continuation).toEqual({ conversationId: 'c', parentMessageId: 'm' });
      expect(await other.find('resp_shared', 'b')).toBeUndefined();
    });
  }
  it('keeps a response in progress while the instance running it is alive', async () => {
    const runner = await store();
    const running = { ...response('resp_live'), status: 'in_progress' } as ResponseObject;
    await runner.save({ owner: 'a', response: running });
    expect((await runner.find('resp_live', 'a'))?.response.status).toBe('in_progress');
    if (useRedis) expect((await (await store()).find('resp_live', 'a'))?.response.status).toBe('in_progress');
  });

  if (kind !== 'memory') {
    it('settles as failed a response left in progress by an instance that is gone, which its owner may still delete', async () => {
      const gone = await store();
      const running = {
        ...response('resp_orphan'),
        status: 'in_progress',
        output: [{ type: 'message', id: 'msg_1', status: 'in_progress', role: 'assistant', content: [] }],
      } as unknown as ResponseObject;
      await gone.save({ owner: 'a', response: running });
      await gone.save({ owner: 'a', response: { ...running, id: 'resp_orphan2' } });
      // The instance dies: with Redis its heartbeat lapses; without, the next process on the files is another one.
      if (useRedis) {
        const client = new Redis(TEST_REDIS_URL);
        await client.del(`${redis.prefix}response-runner:${gone.instanceId}`);
        client.disconnect();
      }
      const next = await store();
      const settled = (await next.find('resp_orphan', 'a'))!.response;
      expect(settled.status).toBe('failed');
      expect(settled.error).toEqual({ code: 'server_error', message: expect.stringContaining('stopped before it finished') });
      expect(settled.output[0].status).toBe('incomplete');
      // Settled for good: another reader finds the same outcome, and the owner check still holds.
      expect((await (await store()).find('resp_orphan', 'a'))?.response.status).toBe('failed');
      expect(await next.find('resp_orphan', 'b')).toBeUndefined();

      expect(await next.delete('resp_orphan2', 'a')).toBe(true);
      expect(await next.find('resp_orphan2', 'a')).toBeUndefined();
    });
  }

  if (kind !== 'memory') {
    it('answers a response left in progress by an instance that is gone as failed also when the store refuses the rewrite', async () => {
      const gone = await store();
      await gone.save({ owner: 'a', response: { ...response('resp_unwritable'), status: 'in_progress' } });
      if (useRedis) {
        const client = new Redis(TEST_REDIS_URL);
        await client.del(`${redis.prefix}response-runner:${gone.instanceId}`);
        client.disconnect();
      }
      const next = await store();
      // A full disk, or Redis at its memory limit (reads answered, writes refused).
      const refused = new Error('OOM command not allowed when used memory > maxmemory');
      if (useRedis)
        jest.spyOn((next as unknown as { shared: { replaceIf: () => Promise<boolean> } }).shared, 'replaceIf').mockRejectedValue(refused);
      else jest.spyOn(next, 'replace').mockRejectedValue(refused);
      expect((await next.find('resp_unwritable', 'a'))?.response).toMatchObject({ status: 'failed', error: { code: 'server_error' } });
    });
  }

  if (useRedis) {
    // Its heartbeat lapsed (Redis out of its reach for a while), yet the instance lives and writes the outcome just as
    // another instance judges the response abandoned.
    it('keeps the outcome an instance wrote while another was settling its response as failed', async () => {
      const runner = await store();
      const running = { ...response('resp_late'), status: 'in_progress' } as ResponseObject;
      await runner.save({ owner: 'a', response: running });
      const reader = await store();
      const runners = (reader as unknown as { runners: { get: (key: string, now: number) => Promise<string | null> } }).runners;
      jest.spyOn(runners, 'get').mockImplementationOnce(async () => {
        await runner.replace({ owner: 'a', response: { ...running, status: 'completed' } });
        return null;
      });
      expect((await reader.find('resp_late', 'a'))?.response.status).toBe('completed');
      expect((await (await store()).find('resp_late', 'a'))?.response.status).toBe('completed');
    });
  }

  if (useRedis) {
    // Stored by an instance of a version that did not name itself: during a rolling upgrade it may be running still.
    it('keeps in progress a response whose record names no instance, rather than failing it while it may still run', async () => {
      const client = new Redis(TEST_REDIS_URL);
      const running = { ...response('resp_older'), status: 'in_progress' } as ResponseObject;
      await client.set(`${redis.prefix}response:resp_older`, JSON.stringify({ owner: 'a', response: running }), 'PX', 60_000);
      client.disconnect();
      expect((await (await store()).find('resp_older', 'a'))?.response.status).toBe('in_progress');
    });
  }

  if (kind !== 'redis') {
    it('drops the least recently used response beyond RESPONSES_STORE_MAX', async () => {
      const responses = await store(2);
      await responses.save({ owner: 'a', response: response('resp_1') });
      await responses.save({ owner: 'a', response: response('resp_2') });
      await responses.find('resp_1', 'a');
      await responses.save({ owner: 'a', response: response('resp_3') });
      expect(await responses.find('resp_2', 'a')).toBeUndefined();
      expect(await responses.find('resp_1', 'a')).toBeDefined();
      expect(await responses.find('resp_3', 'a')).toBeDefined();
    });

    it('keeps the outcome of a response whose in-progress record was dropped for newer ones, or expired, while it ran', async () => {
      const responses = await store(2);
      const running = { ...response('resp_long'), status: 'in_progress' } as ResponseObject;
      await responses.save({ owner: 'a', response: running });
      await responses.save({ owner: 'a', response: response('resp_4') });
      await responses.save({ owner: 'a', response: response('resp_5') });
      expect(await responses.find('resp_long', 'a')).toBeUndefined();
      expect(await responses.replace({ owner: 'a', response: { ...running, status: 'completed' } })).toBe(true);
      expect((await responses.find('resp_long', 'a'))?.response.status).toBe('completed');

      const slow = { ...response('resp_slow'), status: 'in_progress' } as ResponseObject;
      await responses.save({ owner: 'a', response: slow });
      clock.advance(3_600_001);
      expect(await responses.replace({ owner: 'a', response: { ...slow, status: 'completed' } })).toBe(true);
      expect((await responses.find('resp_slow', 'a'))?.response.status).toBe('completed');
    });
  }
});

describe('ResponseStore in files', () => {
  const clock = new FakeClock(1_700_000_000_000);
  let dataDir: string;
  const folder = () => join(dataDir, 'responses');
  const store = async (max = 10) => {
    const opened = new ResponseStore(config(max, dataDir), new SharedState(null, 'test:'), clock);
    await opened.onModuleInit();
    return opened;
  };

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'flowgpt-responses-'));
  });

  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps one private file per response', async () => {
    await (await store()).save({ owner: 'a', response: response('resp_abc') });
    expect(await readdir(folder())).toEqual(['resp_abc.json']);
    const { statSync } = await import('node:fs');
    expect(statSync(join(folder(), 'resp_abc.json')).mode & 0o777).toBe(0o600);
    expect(statSync(folder()).mode & 0o777).toBe(0o700);
  });

  it('removes, when it opens, the files that expired while it was down and the leftovers of interrupted writes', async () => {
    const before = await store();
    await before.save({ owner: 'a', response: response('resp_old') });
    clock.advance(1_800_000);
    await before.save({ owner: 'a', response: response('resp_new') });
    await writeFile(join(folder(), 'resp_new.json.123.abcd.tmp'), '{"half');
    clock.advance(1_800_001);
    const after = await store();
    expect(await readdir(folder())).toEqual(['resp_new.json']);
    expect(await after.find('resp_old', 'a')).toBeUndefined();
    expect(await after.find('resp_new', 'a')).toBeDefined();
  });

  it('keeps, when it opens, the newest RESPONSES_STORE_MAX and removes the others', async () => {
    const before = await store();
    for (const id of ['resp_1', 'resp_2', 'resp_3']) {
      await before.save({ owner: 'a', response: response(id) });
      clock.advance(1_000);
    }
    const after = await store(2);
    expect((await readdir(folder())).sort()).toEqual(['resp_2.json', 'resp_3.json']);
    expect(await after.find('resp_1', 'a')).toBeUndefined();
  });

  it('stops the start with one line when its folder cannot be used', async () => {
    await writeFile(folder(), 'a file where the folder should be');
    await expect(store()).rejects.toThrow(
      new StartProblem(
        `DATA_DIR ${dataDir} cannot be used (EEXIST on ${folder()}: a file is in the way): fix the folder or its permissions (the ` +
          'user that runs FlowGPT must be able to read and write it and its files), or set DATA_DIR to a writable folder',
      ),
    );
  });

  it('never turns an id a client sends into a path', async () => {
    const responses = await store();
    await writeFile(join(dataDir, 'secret.json'), JSON.stringify({ owner: 'a', response: response('resp_x') }));
    for (const id of ['../secret', 'resp_../../secret', 'resp_x/../../secret', 'resp_']) {
      expect(await responses.find(id, 'a')).toBeUndefined();
      expect(await responses.delete(id, 'a')).toBe(false);
    }
    expect(await readdir(dataDir)).toContain('secret.json');
  });

  it('keeps a response it cannot write in memory, and says so', async () => {
    const responses = await store();
    // A folder where the file should go: the rename over it fails, for root too.
    await mkdir(join(folder(), 'resp_unwritten.json'));
    await responses.save({ owner: 'a', response: response('resp_unwritten') });
    expect((await responses.find('resp_unwritten', 'a'))?.response.id).toBe('resp_unwritten');
    expect(await responses.delete('resp_unwritten', 'a')).toBe(true);
    expect(await responses.find('resp_unwritten', 'a')).toBeUndefined();
  });

  it('writes what it was saving before it shuts down', async () => {
    const responses = await store();
    void responses.save({ owner: 'a', response: response('resp_last') });
    await responses.onApplicationShutdown();
    expect(await (await store()).find('resp_last', 'a')).toBeDefined();
  });

  it('forgets a file that cannot be read rather than failing the request', async () => {
    const responses = await store();
    await responses.save({ owner: 'a', response: response('resp_torn') });
    await writeFile(join(folder(), 'resp_torn.json'), '{"torn');
    expect(await responses.find('resp_torn', 'a')).toBeUndefined();
  });

  it('ages a restored response from when it was saved, not from the restart', async () => {
    await (await store()).save({ owner: 'a', response: response('resp_aging') });
    await utimes(join(folder(), 'resp_aging.json'), (clock.now() - 3_000_000) / 1000, (clock.now() - 3_000_000) / 1000);
    const after = await store();
    expect(await after.find('resp_aging', 'a')).toBeDefined();
    clock.advance(600_001);
    expect(await after.find('resp_aging', 'a')).toBeUndefined();
  });
});
