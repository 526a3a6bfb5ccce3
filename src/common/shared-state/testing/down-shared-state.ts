import { StoreUnavailableError } from '../../errors/store-unavailable.error';
import type { AttemptLimits, AttemptWindow } from '../attempt-window';
import type { KeyValueStore } from '../key-value.store';
import type { RedisConnection } from '../redis-connection';
import { SharedState } from '../shared-state';

/**
 * A Redis-backed state whose every call fails as a lost connection does (its `local` state works), until `answering` is
 * set: then its calls reach a memory state of its own, which stands for what Redis holds.
 */
export class DownSharedState extends SharedState {
  answering = false;
  private readonly redis = new SharedState(null, 'test:');

  constructor() {
    super({} as RedisConnection, 'test:');
  }

  keyValues(namespace: string): KeyValueStore {
    return this.whileAnswering(this.redis.keyValues(namespace));
  }

  attemptWindow(name: string, limits: AttemptLimits): AttemptWindow {
    return this.whileAnswering(this.redis.attemptWindow(name, limits));
  }

  private whileAnswering<T extends object>(target: T): T {
    return new Proxy(target, {
      get: (object, name) => {
        const value: unknown = Reflect.get(object, name);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]): unknown =>
          this.answering
            ? (value as (...args: unknown[]) => unknown).apply(object, args)
            : Promise.reject(new StoreUnavailableError('Redis at redis://test', new Error('down')));
      },
    });
  }
}
