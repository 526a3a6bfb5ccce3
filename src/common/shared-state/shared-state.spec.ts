import { Logger } from '@nestjs/common';
import { Redis, ReplyError } from 'ioredis';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { StoreUnavailableError } from '../errors/store-unavailable.error';
import { RedisConnection } from './redis-connection';
import { SharedState } from './shared-state';
import { redisTestConnections, TEST_REDIS_URL } from './testing/redis-test-connections';

const T0 = 1_700_000_000_000;

/** The same behaviour in memory and in Redis; `pair()` gives two views of one state (two instances on Redis). */
describe.each([
  ['memory', false],
  ['redis', true],
])('SharedState (%s)', (_name, useRedis) => {
  const redis = redisTestConnections();
  const open = async () => (useRedis ? new SharedState(await redis.open(), redis.prefix) : new SharedState(null, redis.prefix));
  const pair = async (): Promise<[SharedState, SharedState]> => {
    const first = await open();
    return [first, useRedis ? await open() : first];
  };

  afterAll(() => redis.cleanup());

  it('stores values with a time to live, and sets a value only once with setIfAbsent', async () => {
    const [a, b] = await pair();
    const kv = a.keyValues('kv');
    await kv.set('k', 'v', T0, 60_000);
    expect(await b.keyValues('kv').get('k', T0 + 1)).toBe('v');
    expect(await b.keyValues('other').get('k', T0 + 1)).toBeNull();
    await b.keyValues('kv').delete('k');
    expect(await kv.get('k', T0 + 1)).toBeNull();
    expect(await kv.setIfAbsent('once', 'first')).toBe('first');
    expect(await b.keyValues('kv').setIfAbsent('once', 'second')).toBe('first');
  });

  it('replaces a value with setIfPresent only while the key still holds one', async () => {
    const [a, b] = await pair();
    const kv = a.keyValues('present');
    expect(await kv.setIfPresent('k', 'never', T0, 60_000)).toBe(false);
    expect(await b.keyValues('present').get('k', T0)).toBeNull();
    await kv.set('k', 'v1', T0, 60_000);
    expect(await b.keyValues('present').setIfPresent('k', 'v2', T0, 60_000)).toBe(true);
    expect(await kv.get('k', T0 + 1)).toBe('v2');
    await b.keyValues('present').delete('k');
    expect(await kv.setIfPresent('k', 'v3', T0, 60_000)).toBe(false);
    expect(await b.keyValues('present').get('k', T0 + 1)).toBeNull();
  });

  it('replaces a value with replaceIf only while the key holds the value expected', async () => {
    const [a, b] = await pair();
    const kv = a.keyValues('compare');
    expect(await kv.replaceIf('k', 'v1', 'never', T0, 60_000)).toBe(false);
    expect(await kv.get('k', T0)).toBeNull();
    await kv.set('k', 'v1', T0, 60_000);
    await b.keyValues('compare').set('k', 'v2', T0, 60_000);
    expect(await kv.replaceIf('k', 'v1', 'stale', T0, 60_000)).toBe(false);
    expect(await b.keyValues('compare').replaceIf('k', 'v2', 'v3', T0, 60_000)).toBe(true);
    expect(await kv.get('k', T0 + 1)).toBe('v3');
  });

  it('gives a value to one of many concurrent takers across instances, and deletes it', async () => {
    const [a, b] = await pair();
    const stores = [a.keyValues('take'), b.keyValues('take')];
    await stores[0].set('ticket', 'once', T0, 60_000);
    const taken = await Promise.all(Array.from({ length: 10 }, (_, i) => stores[i % 2].take('ticket', T0 + 1)));
    expect(taken.filter((value) => value !== null)).toEqual(['once']);
    expect(await stores[1].get('ticket', T0 + 1)).toBeNull();
    expect(await stores[0].take('never', T0)).toBeNull();
  });

  it('forgets a value once its time to live has passed', async () => {
    const [a] = await pair();
    const kv = a.keyValues('ttl');
    await kv.set('k', 'v', Date.now(), 50);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(await kv.get('k', Date.now())).toBeNull();
  });

  it('counts attempts in a sliding window across instances', async () => {
    const [a, b] = await pair();
    const limits = { max: 3, windowMs: 60_000 };
    const one = a.attemptWindow('w', limits);
    const two = b.attemptWindow('w', limits);
    await one.record('net', T0);
    await two.record('net', T0 + 1_000);
    expect(await one.retryAfterSec('net', T0 + 2_000)).toBe(0);
    expect(await two.tryRecord('net', T0 + 2_000)).toBe(0);
    expect(await one.retryAfterSec('net', T0 + 2_000)).toBe(58);
    // A refused tryRecord counts nothing; a record always counts.
    expect(await one.tryRecord('net', T0 + 3_000)).toBe(57);
    expect(await two.retryAfterSec('net', T0 + 60_001)).toBe(0);
    expect(await two.retryAfterSec('other', T0)).toBe(0);
    await one.reset('net');
    expect(await two.retryAfterSec('net', T0 + 3_000)).toBe(0);
  });

  it('lets only one of many concurrent tryRecords take the last slot', async () => {
    const [a, b] = await pair();
    const windows = [a.attemptWindow('race', { max: 1, windowMs: 60_000 }), b.attemptWindow('race', { max: 1, windowMs: 60_000 })];
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => windows[i % 2].tryRecord('net', T0)));
    expect(results.filter((wait) => wait === 0)).toHaveLength(1);
  });
});

describe('RedisConnection', () => {
  it('hides credentials when it names the server', () => {
    expect(
      new RedisConnection({ url: 'redis://user:hunter2@cache.internal:6380/2?password=hunter3', commandTimeoutMs: 100 }).description,
    ).toBe('Redis at redis://***@cache.internal:6380/2?password=***');
  });

  it('turns a lost connection into StoreUnavailableError, and keeps a wrong command a plain error', async () => {
    const connection = new RedisConnection({ url: TEST_REDIS_URL, commandTimeoutMs: 5_000 });
    await connection.open();
    await expect(connection.run((redis) => redis.eval('return redis.call("NOSUCHCOMMAND")', 0))).rejects.not.toBeInstanceOf(
      StoreUnavailableError,
    );
    connection.client.disconnect();
    const failure = connection.run((redis) => redis.get('anything'));
    await expect(failure).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(failure).rejects.toThrow('Redis at redis://127.0.0.1:6379 is not answering');
  });

  describe('at start, a maxmemory-policy that can evict its keys', () => {
    let warnings: string[];
    beforeEach(() => {
      warnings = [];
      jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => void warnings.push(String(message)));
    });
    afterEach(() => jest.restoreAllMocks());

    /** Opens a connection while the test Redis runs with `policy` and `maxmemory`, then puts its own settings back. */
    async function openUnder(policy: string, maxmemory = '4gb'): Promise<void> {
      const admin = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
      const [, before] = await admin.config('GET', 'maxmemory-policy');
      const [, limitBefore] = await admin.config('GET', 'maxmemory');
      const connection = new RedisConnection({ url: TEST_REDIS_URL, commandTimeoutMs: 5_000 });
      try {
        await admin.config('SET', 'maxmemory-policy', policy);
        await admin.config('SET', 'maxmemory', maxmemory);
        await connection.open();
      } finally {
        await admin.config('SET', 'maxmemory-policy', before);
        await admin.config('SET', 'maxmemory', limitBefore);
        admin.disconnect();
        await connection.close();
      }
    }

    it.each([
      ['volatile-lru', 'keys with a time to live'],
      ['allkeys-lru', 'any of its keys, accounts included'],
    ])('warns once under %s, naming the policy and what it risks', async (policy, evicts) => {
      await openUnder(policy);
      expect(warnings).toEqual([
        `Redis at ${TEST_REDIS_URL} has maxmemory-policy ${policy}: when it reaches maxmemory it evicts ${evicts}, such as the ` +
          'rotation links that say which RefreshToken replaced a spent one (an instance would then send the spent one, and ' +
          'the auth server may revoke the account), locks and admin sessions. Set maxmemory-policy noeviction',
      ]);
    });

    it('says nothing under noeviction', async () => {
      await openUnder('noeviction');
      expect(warnings).toEqual([]);
    });

    it('says nothing when maxmemory is 0, since Redis then never evicts', async () => {
      await openUnder('allkeys-lru', '0');
      expect(warnings).toEqual([]);
    });

    it('starts all the same, without a warning, on a Redis that refuses CONFIG (as managed ones do)', async () => {
      const connection = new RedisConnection({ url: TEST_REDIS_URL, commandTimeoutMs: 5_000 });
      jest.spyOn(connection.client, 'config').mockRejectedValue(new ReplyError("ERR unknown command 'CONFIG'"));
      try {
        await connection.open();
        await connection.ping();
      } finally {
        await connection.close();
      }
      expect(warnings).toEqual([]);
    });
  });

  it('drops a connection that no longer answers and connects again, so service resumes where a new one gets through', async () => {
    const front = await tcpFront(new URL(TEST_REDIS_URL));
    const connection = new RedisConnection({ url: `redis://127.0.0.1:${front.port}`, commandTimeoutMs: 300 });
    try {
      await connection.open();
      await connection.ping();
      // The path to Redis goes dead without closing (a failover behind an address, a dropped NAT entry): what is sent on
      // the open connection is never answered, while a new connection reaches Redis.
      front.blackholeOpenConnections();
      await expect(connection.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
      const deadline = Date.now() + 30_000; // a generous wait, not a speed claim
      let answered = false;
      while (!answered && Date.now() < deadline) {
        answered = await connection.ping().then(
          () => true,
          () => false,
        );
        if (!answered) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(answered).toBe(true);
    } finally {
      await connection.close();
      await front.close();
    }
  });
});

/** A TCP relay to `target` whose open connections can be made to swallow everything, as a dead network path does. */
async function tcpFront(target: URL): Promise<{ port: number; blackholeOpenConnections(): void; close(): Promise<void> }> {
  const open = new Set<{ client: Socket; server: Socket; dead: boolean }>();
  const server: Server = createServer((client) => {
    const upstream = createConnection(Number(target.port || 6379), target.hostname);
    const pair = { client, server: upstream, dead: false };
    open.add(pair);
    client.on('data', (chunk) => pair.dead || upstream.write(chunk));
    upstream.on('data', (chunk) => pair.dead || client.write(chunk));
    const end = () => {
      open.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) socket.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    blackholeOpenConnections: () => {
      for (const pair of open) pair.dead = true;
    },
    close: async () => {
      for (const pair of open) {
        pair.client.destroy();
        pair.server.destroy();
      }
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
