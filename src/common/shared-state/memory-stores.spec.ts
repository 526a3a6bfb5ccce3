import { MemoryAttemptWindow } from './attempt-window';
import { MemoryKeyValueStore } from './key-value.store';

const T0 = 1_700_000_000_000;

describe('in-memory shared state, bounded', () => {
  it('keeps at most maxEntries values, dropping the least recently used', async () => {
    const store = new MemoryKeyValueStore(2);
    await store.set('a', '1', T0);
    await store.set('b', '2', T0);
    expect(await store.get('a', T0)).toBe('1');
    await store.set('c', '3', T0);
    expect(await store.get('b', T0)).toBeNull();
    expect(await store.get('a', T0)).toBe('1');
    expect(await store.get('c', T0)).toBe('3');
  });

  it("measures a value's time to live on the callers' clock", async () => {
    const store = new MemoryKeyValueStore(10);
    await store.set('k', 'v', T0, 60_000);
    expect(await store.get('k', T0 + 59_999)).toBe('v');
    expect(await store.get('k', T0 + 60_001)).toBeNull();
    expect(await store.setIfPresent('k', 'again', T0 + 60_001, 60_000)).toBe(false);
    expect(await store.get('k', T0 + 60_001)).toBeNull();
    await store.set('gone', 'v', T0, 0);
    expect(await store.get('gone', T0)).toBeNull();
    expect(await store.setIfAbsent('key', 'first')).toBe('first');
    expect(await store.get('key', T0 + 365 * 86_400_000)).toBe('first');
  });

  it('counts attempts for at most maxKeys addresses, forgetting the least recently counted', async () => {
    const window = new MemoryAttemptWindow({ max: 1, windowMs: 60_000, maxKeys: 2 });
    await window.record('a', T0);
    await window.record('b', T0);
    expect(await window.retryAfterSec('a', T0)).toBe(60);
    await window.record('c', T0);
    expect(await window.retryAfterSec('a', T0)).toBe(0);
    expect(await window.retryAfterSec('b', T0)).toBe(60);
    expect(await window.retryAfterSec('c', T0)).toBe(60);
  });
});
