import { StoreUnavailableError } from '../../errors/store-unavailable.error';
import type { AttemptWindow } from '../attempt-window';
import type { KeyValueStore } from '../key-value.store';
import type { RedisConnection } from '../redis-connection';
import { SharedState } from '../shared-state';

/** A Redis-backed state whose every call fails as a lost connection does (its `local` state works). */
export class DownSharedState extends SharedState {
  constructor() {
    super({} as RedisConnection, 'test:');
  }

  keyValues(): KeyValueStore {
    const down = () => Promise.reject(new StoreUnavailableError('Redis at redis://test', new Error('down')));
    return { get: down, set: down, setIfAbsent: down, setIfPresent: down, take: down, delete: down };
  }

  attemptWindow(): AttemptWindow {
    const down = () => Promise.reject(new StoreUnavailableError('Redis at redis://test', new Error('down')));
    return { retryAfterSec: down, record: down, tryRecord: down, reset: down };
  }
}
