import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { RedisAccountStore } from '../stores/redis-account-store';

/** CI guarantees this Redis: when it is unreachable, tests that use it fail; they are never skipped. */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Redis stores on a fresh random key prefix; `cleanup` deletes every key under it. */
export async function redisHarness() {
  const prefix = `flowgpt-test:${randomBytes(6).toString('hex')}:`;
  return {
    prefix,
    open: async () => {
      const store = new RedisAccountStore({ url: TEST_REDIS_URL, prefix });
      await store.open();
      return store;
    },
    cleanup: async () => {
      const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
      try {
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length > 0) await redis.del(...keys);
      } finally {
        redis.disconnect();
      }
    },
  };
}
