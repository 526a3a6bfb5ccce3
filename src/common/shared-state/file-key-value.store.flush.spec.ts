import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileKeyValueStore, SNAPSHOT_DELAY_MS } from './file-key-value.store';

/** Each snapshot write stays in flight until the test lets it land: a slow fsync on a busy disk. */
const writes: { content: string; land: () => void }[] = [];
let inFlight = 0;
let mostInFlight = 0;
jest.mock('../util/atomic-file', () => ({
  isTempOf: () => false,
  writeFileAtomically: (_target: string, content: string) =>
    new Promise<void>((resolve) => {
      mostInFlight = Math.max(mostInFlight, ++inFlight);
      writes.push({ content, land: () => (inFlight--, resolve()) });
    }),
}));

const T0 = 1_700_000_000_000;
const tick = () => new Promise((resolve) => setImmediate(resolve));
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 5_000 && !done(); i++) await tick();
}

describe('FileKeyValueStore: flush during timed snapshots', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flowgpt-kv-flush-'));
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick'] });
  });
  afterEach(() => {
    jest.useRealTimers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes one snapshot at a time, and returns only once the last change is written', async () => {
    const store = new FileKeyValueStore(join(dir, 'ns.json'), 100);
    await store.set('a', '1', T0);
    jest.advanceTimersByTime(SNAPSHOT_DELAY_MS);
    await until(() => writes.length === 1);

    let flushed = false;
    void store.flush().then(() => (flushed = true));
    await store.set('b', '2', T0);
    writes[0].land();
    await until(() => writes.length === 2);
    await store.set('c', '3', T0);
    jest.advanceTimersByTime(SNAPSHOT_DELAY_MS);
    await until(() => writes.length === 3);

    // Land whatever is written, in order, until the flush says it is done.
    for (let landed = 1; !flushed && landed < 10; landed++) {
      await until(() => writes.length > landed || flushed);
      writes[landed]?.land();
      await until(() => flushed || writes.length > landed + 1);
    }
    expect({ flushed, mostInFlight, last: writes.at(-1)!.content }).toEqual({
      flushed: true,
      mostInFlight: 1,
      last: expect.stringContaining('"c"'),
    });
  });
});
