import { Logger } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { AttemptLimits, AttemptWindow, MemoryAttemptWindow, RedisAttemptWindow } from './attempt-window';
import { KeyValueStore, MemoryKeyValueStore, RedisKeyValueStore } from './key-value.store';
import type { RedisConnection } from './redis-connection';

/** Bounds what one process holds in memory per namespace, whatever a client does. */
const MEMORY_MAX_KEYS = 10_000;

/**
 * State that must be one across instances when several run behind a load balancer (admin sessions, login
 * and prefix-guess throttles, model caps; the pool itself is the `AccountStore`). With `REDIS_URL` it lives
 * in Redis, on this process's one connection; without, in memory (one instance, nothing to share).
 */
export class SharedState {
  /** One store per namespace and one window per name, so that in memory too a name means the same data. */
  private readonly keyValueStores = new Map<string, KeyValueStore>();
  private readonly attemptWindows = new Map<string, AttemptWindow>();

  constructor(
    /** Null without `REDIS_URL`. */
    readonly connection: RedisConnection | null,
    private readonly prefix: string,
  ) {}

  get kind(): 'memory' | 'redis' {
    return this.connection ? 'redis' : 'memory';
  }

  /** Values under `namespace` (a short name such as `admin-session`). */
  keyValues(namespace: string): KeyValueStore {
    let store = this.keyValueStores.get(namespace);
    if (!store) {
      store = this.connection
        ? new RedisKeyValueStore(this.connection, `${this.prefix}${namespace}:`)
        : new MemoryKeyValueStore(MEMORY_MAX_KEYS);
      this.keyValueStores.set(namespace, store);
    }
    return store;
  }

  /** A sliding-window attempt counter named `name` (e.g. `admin-login`). */
  attemptWindow(name: string, limits: AttemptLimits): AttemptWindow {
    let window = this.attemptWindows.get(name);
    if (!window) {
      window = this.connection
        ? new RedisAttemptWindow(this.connection, `${this.prefix}attempts:${name}:`, limits)
        : new MemoryAttemptWindow({ ...limits, maxKeys: MEMORY_MAX_KEYS });
      this.attemptWindows.set(name, window);
    }
    return window;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.connection?.close();
  }
}

/** Connects to `REDIS_URL` when it is set; the app does not start when that Redis does not answer. */
export async function createSharedState(config: AppConfig): Promise<SharedState> {
  if (!config.redisUrl) return new SharedState(null, config.redisPrefix);
  // Loaded only here: ioredis is some forty modules that a start without Redis has no use for.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy synchronous load
  const { RedisConnection: Connection } = require('./redis-connection') as { RedisConnection: typeof RedisConnection };
  const connection = new Connection({ url: config.redisUrl, commandTimeoutMs: config.redisCommandTimeoutMs });
  await connection.open();
  new Logger('SharedState').log(`Shared state in ${connection.description} under prefix ${config.redisPrefix}`);
  return new SharedState(connection, config.redisPrefix);
}
