import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StartProblem } from '../startup/start-problem';
import { FileKeyValueStore } from './file-key-value.store';
import { SharedState } from './shared-state';

const T0 = 1_700_000_000_000;

describe('FileKeyValueStore', () => {
  let dir: string;
  let path: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flowgpt-kv-'));
    path = join(dir, 'state', 'ns.json');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps values, their time to live and deletions across a restart', async () => {
    const store = new FileKeyValueStore(path, 100);
    await store.set('forever', 'a', T0);
    await store.set('hour', 'b', T0, 3_600_000);
    await store.set('gone', 'c', T0);
    await store.delete('gone');
    expect(await store.setIfAbsent('once', 'first')).toBe('first');
    await store.flush();

    const again = new FileKeyValueStore(path, 100);
    expect(await again.get('forever', T0 + 1)).toBe('a');
    expect(await again.get('hour', T0 + 3_599_999)).toBe('b');
    expect(await again.get('hour', T0 + 3_600_000)).toBeNull();
    expect(await again.get('gone', T0 + 1)).toBeNull();
    expect(await again.setIfAbsent('once', 'second')).toBe('first');
  });

  it('replaces a value with setIfPresent only while the key holds one, and keeps the replacement across a restart', async () => {
    const store = new FileKeyValueStore(path, 100);
    await store.set('k', 'v1', T0, 60_000);
    expect(await store.setIfPresent('k', 'v2', T0, 60_000)).toBe(true);
    expect(await store.setIfPresent('never', 'x', T0, 60_000)).toBe(false);
    await store.set('short', 'x', T0, 10);
    expect(await store.setIfPresent('short', 'y', T0 + 10, 60_000)).toBe(false);
    await store.set('gone', 'x', T0);
    await store.delete('gone');
    expect(await store.setIfPresent('gone', 'back', T0)).toBe(false);
    await store.flush();

    const again = new FileKeyValueStore(path, 100);
    expect(await again.get('k', T0 + 1)).toBe('v2');
    for (const key of ['never', 'short', 'gone']) expect(await again.get(key, T0 + 10)).toBeNull();
  });

  it('replaces a value with replaceIf only while the key holds the value expected, not once it has expired', async () => {
    const store = new FileKeyValueStore(path, 100);
    await store.set('k', 'v1', T0, 60_000);
    expect(await store.replaceIf('k', 'other', 'x', T0, 60_000)).toBe(false);
    expect(await store.replaceIf('k', 'v1', 'v2', T0, 60_000)).toBe(true);
    await store.set('short', 'x', T0, 10);
    expect(await store.replaceIf('short', 'x', 'y', T0 + 10, 60_000)).toBe(false);
    expect(await store.get('k', T0 + 1)).toBe('v2');
  });

  it('gives a value to one of concurrent takers, and keeps it taken across a restart', async () => {
    const store = new FileKeyValueStore(path, 100);
    await store.set('ticket', 'once', T0, 60_000);
    await store.set('expired', 'late', T0, 10);
    const taken = await Promise.all([store.take('ticket', T0 + 1), store.take('ticket', T0 + 1)]);
    expect(taken).toEqual(['once', null]);
    expect(await store.take('expired', T0 + 10)).toBeNull();
    await store.flush();

    expect(await new FileKeyValueStore(path, 100).get('ticket', T0 + 1)).toBeNull();
  });

  it('writes the snapshot readable by its owner only, and leaves no temp file', async () => {
    const store = new FileKeyValueStore(path, 100);
    await store.set('k', 'secret', T0);
    await store.flush();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'state')).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(dir, 'state'))).toEqual(['ns.json']);
  });

  it('does not write what has expired, and drops the least recently used past its bound', async () => {
    const store = new FileKeyValueStore(path, 2);
    await store.set('short', 'x', T0, 10);
    await store.set('a', '1', T0);
    await store.get('short', T0 + 20);
    await store.set('b', '2', T0 + 20);
    await store.get('a', T0 + 20);
    await store.set('c', '3', T0 + 20);
    await store.flush();
    const keys = (JSON.parse(readFileSync(path, 'utf8')) as { entries: string[][] }).entries.map(([key]) => key);
    expect(keys).toEqual(['a', 'c']);
  });

  it('starts empty from a damaged file, setting it aside, and removes the temp files of a crashed write', async () => {
    const store = new FileKeyValueStore(path, 1);
    await store.set('k', 'v', T0);
    await store.flush();
    writeFileSync(path, '{"version":1,"entries":[["k","v",nu');
    writeFileSync(`${path}.123.abcd.tmp`, 'half a snapshot');

    const again = new FileKeyValueStore(path, 10);
    expect(await again.get('k', T0)).toBeNull();
    expect(readdirSync(join(dir, 'state')).sort()).toEqual(['ns.json.unreadable']);
    await again.set('k', 'new', T0);
    await again.flush();
    expect(await new FileKeyValueStore(path, 10).get('k', T0)).toBe('new');
  });

  it('refuses to start over a file it cannot read, naming it, and never writes over it', async () => {
    const store = new FileKeyValueStore(path, 100);
    await store.set('session', 'signed-in', T0);
    await store.flush();
    // As a file another user made (or a flaky disk) reads: its content is there but out of reach. Starting empty would
    // write the next snapshot over it and sign everyone out for good. (Tests run as root, where EACCES cannot be made.)
    const denied = Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES', path });
    const read = jest.spyOn(jest.requireActual<typeof import('node:fs')>('node:fs'), 'readFileSync').mockImplementation(() => {
      throw denied;
    });
    let started: FileKeyValueStore | undefined;
    try {
      started = new FileKeyValueStore(path, 100);
    } catch (error) {
      expect(error).toBeInstanceOf(StartProblem);
      expect((error as Error).message).toContain(path);
    } finally {
      read.mockRestore();
    }
    if (started) {
      await started.set('other', 'x', T0);
      await started.flush();
    }
    expect(started).toBeUndefined();
    expect(await new FileKeyValueStore(path, 100).get('session', T0)).toBe('signed-in');
  });

  it('opens empty when a file stands where a folder of its path should be: no snapshot can be there to lose', async () => {
    const aFile = join(dir, 'not-a-folder');
    writeFileSync(aFile, 'a file where the data folder should be');
    const store = new FileKeyValueStore(join(aFile, 'state', 'ns.json'), 100);
    expect(await store.get('k', T0)).toBeNull();
    expect(readFileSync(aFile, 'utf8')).toBe('a file where the data folder should be');
  });

  it("refuses to start when a file stands where the snapshots' own folder should be, naming that folder", () => {
    // DATA_DIR is a folder, so its own check passes: only this store can tell that DATA_DIR/state is a file, and every
    // snapshot written there would fail, losing sessions at the next restart.
    const state = join(dir, 'state');
    writeFileSync(state, 'a file where the snapshot folder should be');
    expect(() => new FileKeyValueStore(join(state, 'ns.json'), 100)).toThrow(StartProblem);
    expect(() => new FileKeyValueStore(join(state, 'ns.json'), 100)).toThrow(`${state} `);
  });

  it('keeps a change whose snapshot failed for the next write, at shutdown too', async () => {
    const store = new FileKeyValueStore(path, 100);
    mkdirSync(path, { recursive: true }); // the rename over a folder fails, as a full or broken disk would
    await store.set('session', 'signed-in', T0);
    await store.flush();
    rmSync(path, { recursive: true });
    await store.flush();
    expect(await new FileKeyValueStore(path, 100).get('session', T0)).toBe('signed-in');
  });

  it('writes changes made while a snapshot is being written in a later one', async () => {
    const store = new FileKeyValueStore(path, 100);
    await store.set('first', '1', T0);
    const flushing = store.flush();
    await store.set('second', '2', T0);
    await flushing;
    await store.flush();
    const again = new FileKeyValueStore(path, 100);
    expect([await again.get('first', T0), await again.get('second', T0)]).toEqual(['1', '2']);
  });
});

describe('SharedState without Redis', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'flowgpt-shared-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps only durable namespaces in files, written at shutdown', async () => {
    const state = new SharedState(null, 'test:', dir);
    await state.keyValues('sign-ins', { durable: true }).set('k', 'v', T0);
    await state.keyValues('scratch').set('k', 'v', T0);
    await state.onApplicationShutdown();

    const restarted = new SharedState(null, 'test:', dir);
    expect(await restarted.keyValues('sign-ins', { durable: true }).get('k', T0)).toBe('v');
    expect(await restarted.keyValues('scratch').get('k', T0)).toBeNull();
    expect(readdirSync(dir)).toEqual(['sign-ins.json']);
  });
});
