import { Redis } from 'ioredis';
import { SharedState } from '../common/shared-state/shared-state';
import { redisTestConnections, TEST_REDIS_URL } from '../common/shared-state/testing/redis-test-connections';
import type { AppConfig } from '../config/app-config';
import { FakeClock } from '../token-pool/testing/fake-clock';
import { ResponseStore } from './response.store';
import type { ResponseObject } from './response-shapes';

const response = (id: string) => ({ id, object: 'response', output: [] }) as unknown as ResponseObject;
const config = (max: number) => ({ responsesStoreMax: max, responsesStoreTtlSec: 3600 }) as AppConfig;

describe.each([
  ['in memory', false],
  ['in Redis', true],
])('ResponseStore (%s)', (_name, useRedis) => {
  const redis = redisTestConnections();
  const clock = new FakeClock(1_700_000_000_000);
  /** A store; on Redis each call is a new instance (its own connection) on the same data. */
  const store = async (max = 10) =>
    new ResponseStore(config(max), new SharedState(useRedis ? await redis.open() : null, redis.prefix), clock);

  afterAll(() => redis.cleanup());

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

  if (useRedis) {
    it('is one store for every instance on the same Redis', async () => {
      const one = await store();
      const two = await store();
      await one.save({ owner: 'a', response: response('resp_shared'), continuation: { conversationId: 'c', parentMessageId: 'm' } });
      expect((await two.find('resp_shared', 'a'))?.continuation).toEqual({ conversationId: 'c', parentMessageId: 'm' });
      expect(await two.find('resp_shared', 'b')).toBeUndefined();
    });
  } else {
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
  }
});
