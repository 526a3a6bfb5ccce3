import { randomBytes } from 'node:crypto';
import { RedisConnection } from '../../common/shared-state/redis-connection';
import { deleteKeysUnder, TEST_REDIS_URL } from '../../common/shared-state/testing/redis-test-connections';
import type { AccountStore } from '../stores/account-store';
import { RedisAccountStore } from '../stores/redis-account-store';

export { TEST_REDIS_URL };

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
    /** The connection a store opened, to make its commands fail in a test. */
    connectionOf: (store: AccountStore) => connections.get(store)!,
    makeUnavailable: async (store: AccountStore) => {
      connections.get(store)?.client.disconnect();
    },
    cleanup: async () => {
      for (const connection of connections.values()) await connection.close();
      await deleteKeysUnder(prefix);
    },
  };
}
