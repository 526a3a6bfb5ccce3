import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { RedisConnection } from '../redis-connection';

/** CI guarantees this Redis: when it is unreachable, tests that use it fail; they are never skipped. */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Deletes every key under `prefix` (what a test wrote). */
export async function deleteKeysUnder(prefix: string): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

/**
 * Connections to the test Redis for one test file, on a fresh random key prefix: each `open()` is a connection of
 * its own (as a separate instance would have); `cleanup()` closes them and deletes every key under the prefix.
 */
export function redisTestConnections() {
  const prefix = `flowgpt-test:${randomBytes(6).toString('hex')}:`;
  const connections: RedisConnection[] = [];
  return {
    prefix,
    open: async (): Promise<RedisConnection> => {
      const connection = new RedisConnection({ url: TEST_REDIS_URL, commandTimeoutMs: 5_000 });
      await connection.open();
      connections.push(connection);
      return connection;
    },
    cleanup: async (): Promise<void> => {
      for (const connection of connections.splice(0)) await connection.close();
      await deleteKeysUnder(prefix);
    },
  };
}
