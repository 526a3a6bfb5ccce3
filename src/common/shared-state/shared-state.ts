import { Logger } from '@nestjs/common';
import { join } from 'node:path';
import { AppConfig } from '../../config/app-config';
import { AttemptLimits, AttemptWindow, MemoryAttemptWindow, RedisAttemptWindow } from './attempt-window';
import { FileKeyValueStore } from './file-key-value.store';
import { KeyValueStore, MemoryKeyValueStore, RedisKeyValueStore } from './key-value.store';
import type { RedisConnection } from './redis-connection';

/** Bounds what one process holds in memory per namespace, whatever a client does. */
const MEMORY_MAX_KEYS = 10_000;

/**
 * State that must be one across instances when several run behind a load balancer (admin sessions, login
 * and prefix-guess throttles, model caps; the pool itself is the `AccountStore`). With `REDIS_URL` it lives
 * in Redis, on this process's one connection; without, in memory (one instance, nothing to share), and the
 * namespaces asked for as `durable` are also kept in files under `DATA_DIR/state`, so that they outlive a restart.
 */
export class SharedState {
  /** One store per namespace and one window per name, so that in memory too a name means the same data. */
  private readonly keyValueStores = new Map<string, KeyValueStore>();
  private readonly snapshots: FileKeyValueStore[] = [];
  private readonly attemptWindows = new Map<string, AttemptWindow>();
  private ownCopy?: SharedState;

  constructor(
    /** Null without `REDIS_URL`. */
    readonly connection: RedisConnection | null,
    private readonly prefix: string,
    /** Where durable namespaces are kept without Redis; without it they live in memory only. */
    private readonly snapshotDir?: string,
  ) {}

  get kind(): 'memory' | 'redis' {
    return this.connection ? 'redis' : 'memory';
  }

  /**
   * Values under `namespace` (a short name such as `admin-session`). `durable`: what users expect to survive a
   * restart (sign-ins, conversation pins, file links); Redis keeps everything, the file snapshot only these.
   */
  keyValues(namespace: string, options: { durable?: boolean } = {}): KeyValueStore {
    let store = this.keyValueStores.get(namespace);
    if (!store) {
      store = this.connection
        ? new RedisKeyValueStore(this.connection, `${this.prefix}${namespace}:`)
        : this.memoryStore(namespace, options.durable ?? false);
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

  /**
   * With Redis, this process's own state in memory, for what may go on per instance while Redis does not answer
   * (`LocalWhileStoreDown`); null without Redis, where there is nothing else to fall back to.
   */
  get local(): SharedState | null {
    if (!this.connection) return null;
    this.ownCopy ??= new SharedState(null, this.prefix);
    return this.ownCopy;
  }

  /** Writes the durable namespaces' pending changes now (the snapshots are otherwise a second behind). */
  async flush(): Promise<void> {
    await Promise.all(this.snapshots.map((store) => store.flush()));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.flush();
    await this.connection?.close();
  }

  private memoryStore(namespace: string, durable: boolean): KeyValueStore {
    if (!durable || !this.snapshotDir) return new MemoryKeyValueStore(MEMORY_MAX_KEYS);
    const store = new FileKeyValueStore(join(this.snapshotDir, `${namespace}.json`), MEMORY_MAX_KEYS);
    this.snapshots.push(store);
    return store;
  }
}

/** Connects to `REDIS_URL` when it is set; the app does not start when that Redis does not answer. */
export async function createSharedState(config: AppConfig): Promise<SharedState> {
  if (!config.redisUrl) return new SharedState(null, config.redisPrefix, join(config.dataDir, 'state'));
  // Loaded only here: ioredis is some forty modules that a start without Redis has no use for.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy synchronous load
  const { RedisConnection: Connection } = require('./redis-connection') as { RedisConnection: typeof RedisConnection };
  const connection = new Connection({ url: config.redisUrl, commandTimeoutMs: config.redisCommandTimeoutMs });
  await connection.open();
  new Logger('SharedState').log(`Shared state in ${connection.description} under prefix ${config.redisPrefix}`);
  return new SharedState(connection, config.redisPrefix);
}
