import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { RedisConnection } from '../../common/shared-state/redis-connection';
import type { AccountStore } from '../stores/account-store';
import { RedisAccountStore } from '../stores/redis-account-store';

/** CI guarantees this Redis: when it is unreachable, tests that use it fail; they are never skipped. */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Redis stores on a fresh random key prefix, each on its own connection (as separate instances would be);
 * `cleanup` closes the connections and deletes every key under the prefix.
 */
export async function redisHarness() {
  const prefix = `flowgpt-test:${randomBytes(6).toString('hex')}:`;
  const connections = new Map<AccountStore, RedisConnection>();
  return {
    prefix,
    open: async () => {
      const connection = new RedisConnection({ url: TEST_REDIS_URL, commandTimeoutMs: 5_000 });
      const store = new RedisAccountStore({ connection, prefix });
      await store.open();
      connections.set(store, connection);
      return store;
    },
    makeUnavailable: async (store: AccountStore) => {
      connections.get(store)?.client.disconnect();
    },
    cleanup: async () => {
      for (const connection of connections.values()) await connection.close();
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
