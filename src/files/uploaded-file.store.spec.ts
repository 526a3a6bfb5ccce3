import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError } from '../common/errors/api-error';
import { Clock } from '../common/vocabulary/clock';
import { testConfig } from '../config/test-config';
import { isUploadedFileId, UploadedFileStore } from './uploaded-file.store';

class HandClock extends Clock {
  constructor(public time = Date.UTC(2026, 0, 1)) {
    super();
  }
  now(): number {
    return this.time;
  }
}

const ownerOf = (key: string) => createHash('sha256').update(key).digest('hex');

describe('UploadedFileStore', () => {
  let dataDir: string;
  let clock: HandClock;
  let store: UploadedFileStore;
  const alice = ownerOf('sk-alice');
  const bob = ownerOf('sk-bob');
  const upload = (text: string, extra: { expiresAfterSec?: number } = {}) => ({
    filename: 'notes.txt',
    purpose: 'user_data' as const,
    mimeType: 'text/plain',
    bytes: Buffer.from(text),
    ...extra,
  });

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'uploaded-files-'));
    clock = new HandClock();
    store = new UploadedFileStore(testConfig({ dataDir, filesMaxOwnerBytes: 100 }), clock);
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('gives each file a new id of OpenAI’s shape and keeps what its file object says', async () => {
    const first = await store.create(alice, upload('hello'));
    const second = await store.create(alice, upload('world'));
    expect(first.id).toMatch(/^file-[A-Za-z0-9]{24}$/);
    expect(second.id).not.toBe(first.id);
    expect(first).toEqual({
      id: first.id,
      bytes: 5,
      createdAt: Math.floor(clock.time / 1000),
      filename: 'notes.txt',
      purpose: 'user_data',
      mimeType: 'text/plain',
      expiresAt: null,
      createdAtMs: clock.time,
    });
    expect(await store.content(alice, first.id)).toEqual({ file: first, bytes: Buffer.from('hello') });
  });

  it('shows a file only to the owner that uploaded it', async () => {
    const file = await store.create(alice, upload('secret'));
    expect(await store.find(bob, file.id)).toBeUndefined();
    expect(await store.content(bob, file.id)).toBeUndefined();
    expect(await store.list(bob)).toEqual([]);
    expect(await store.delete(bob, file.id)).toBe(false);
    expect(await store.find(alice, file.id)).toEqual(file);
    expect(await store.delete(alice, file.id)).toBe(true);
    expect(await store.find(alice, file.id)).toBeUndefined();
    expect(await store.delete(alice, file.id)).toBe(false);
  });

  it('writes through temp files and renames, leaving only the bytes and the record (mode 0600) behind', async () => {
    const file = await store.create(alice, upload('hello'));
    const folder = join(dataDir, 'files', alice);
    expect(readdirSync(folder).sort()).toEqual([`${file.id}.bin`, `${file.id}.json`]);
    expect(statSync(join(folder, `${file.id}.bin`)).mode & 0o777).toBe(0o600);
    expect(statSync(folder).mode & 0o777).toBe(0o700);
  });

  it('names nothing with an id of any other shape, so no path outside the owner’s folder is ever read or removed', async () => {
    const file = await store.create(alice, upload('hello'));
    writeFileSync(join(dataDir, 'files', 'outside.json'), JSON.stringify({ ...file, id: 'outside' }));
    for (const id of [
      '../outside',
      `../${alice}/${file.id}`,
      `${file.id}/../${file.id}`,
      `${file.id}.json`,
      'file-..%2F..%2Foutside',
      `${file.id}x`,
      `file-${'a'.repeat(20)}/../`,
      '',
    ]) {
      expect(isUploadedFileId(id)).toBe(false);
      expect(await store.find(alice, id)).toBeUndefined();
      expect(await store.content(alice, id)).toBeUndefined();
      expect(await store.delete(alice, id)).toBe(false);
    }
    expect(readdirSync(join(dataDir, 'files')).sort()).toEqual([alice, 'outside.json']);
    await expect(store.list('../files')).rejects.toThrow('not an owner digest');
  });

  it('ignores a record without its .json name or left by an interrupted write', async () => {
    const file = await store.create(alice, upload('hello'));
    const folder = join(dataDir, 'files', alice);
    writeFileSync(join(folder, `${file.id}.json.123.abcd.tmp`), '{"half":');
    writeFileSync(join(folder, 'stray.json'), '{}');
    expect((await store.list(alice)).map((listed) => listed.id)).toEqual([file.id]);
  });

  it('refuses an upload that would take the owner past FILES_MAX_OWNER_SIZE with a 413, and keeps nothing of it', async () => {
    await store.create(alice, upload('a'.repeat(60)));
    const refused = await store.create(alice, upload('b'.repeat(41))).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).getStatus()).toBe(413);
    expect((refused as ApiError).body.error).toMatchObject({ type: 'invalid_request_error', code: 'files_quota_exceeded' });
    expect(await store.list(alice)).toHaveLength(1);
    // Another owner has an allowance of its own, and what is left of this one can still be used.
    await store.create(bob, upload('c'.repeat(100)));
    await store.create(alice, upload('d'.repeat(40)));
  });

  it('refuses an upload that would take all owners past FILES_MAX_TOTAL_SIZE with a 413', async () => {
    const bounded = new UploadedFileStore(testConfig({ dataDir, filesMaxOwnerBytes: 100, filesMaxTotalBytes: 150 }), clock);
    await bounded.create(alice, upload('a'.repeat(80)));
    const refused = await bounded.create(bob, upload('b'.repeat(80))).catch((error: unknown) => error);
    expect((refused as ApiError).getStatus()).toBe(413);
    expect((refused as ApiError).body.error).toMatchObject({ type: 'invalid_request_error', code: 'files_storage_full' });
    await bounded.create(bob, upload('b'.repeat(70)));
  });

  it('clears what a crash left half written (temp files, bytes without a record) when an upload measures the folder', async () => {
    const kept = await store.create(alice, upload('kept'));
    const folder = join(dataDir, 'files', bob);
    mkdirSync(folder, { recursive: true });
    const orphan = `file-${'A'.repeat(24)}`;
    writeFileSync(join(folder, `${orphan}.bin`), 'x'.repeat(90));
    writeFileSync(join(folder, `${orphan}.json.1.abcd.tmp`), '{"half":');
    await store.create(bob, upload('y'.repeat(90)));
    expect(readdirSync(folder).filter((name) => name.startsWith(orphan))).toEqual([]);
    expect(readdirSync(join(dataDir, 'files', alice)).sort()).toEqual([`${kept.id}.bin`, `${kept.id}.json`]);
  });

  it('lists files in the order they were uploaded, also several within one second (and after a restart)', async () => {
    const ids: string[] = [];
    for (let index = 0; index < 8; index++) ids.push((await store.create(alice, upload(`${index}`))).id);
    expect((await store.list(alice)).map((file) => file.id)).toEqual(ids);
    const reopened = new UploadedFileStore(testConfig({ dataDir }), clock);
    ids.push((await reopened.create(alice, upload('after restart'))).id);
    expect((await reopened.list(alice)).map((file) => file.id)).toEqual(ids);
  });

  it('deletes a file once when two deletes of it run at once: the other finds none', async () => {
    const file = await store.create(alice, upload('once'));
    const outcomes = await Promise.all([store.delete(alice, file.id), store.delete(alice, file.id), store.delete(alice, file.id)]);
    expect(outcomes.sort()).toEqual([false, false, true]);
    expect(await store.find(alice, file.id)).toBeUndefined();
  });

  it('checks the allowance against uploads running at once', async () => {
    const outcomes = await Promise.allSettled([1, 2, 3].map(() => store.create(alice, upload('x'.repeat(40)))));
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(2);
    expect(await store.list(alice)).toHaveLength(2);
  });

  it('gives the allowance back when a file is deleted or has expired', async () => {
    const deleted = await store.create(alice, upload('a'.repeat(60)));
    await store.create(alice, upload('b'.repeat(30), { expiresAfterSec: 3600 }));
    expect(await store.create(alice, upload('c'.repeat(20))).catch((error: ApiError) => error.code)).toBe('files_quota_exceeded');
    await store.delete(alice, deleted.id);
    clock.time += 3600_000;
    // 60 + 30 bytes went: 100 are free again.
    await store.create(alice, upload('d'.repeat(100)));
  });

  it('drops a file once its expires_after has passed', async () => {
    const file = await store.create(alice, upload('brief', { expiresAfterSec: 3600 }));
    expect(file.expiresAt).toBe(file.createdAt + 3600);
    clock.time += 3599_000;
    expect(await store.list(alice)).toHaveLength(1);
    clock.time += 1000;
    expect(await store.find(alice, file.id)).toBeUndefined();
    expect(readdirSync(join(dataDir, 'files', alice))).toEqual([]);
  });

  it('lists the owner’s files oldest first, and keeps them across a new store on the same folder', async () => {
    const older = await store.create(alice, upload('1'));
    clock.time += 5000;
    const newer = await store.create(alice, upload('2'));
    const reopened = new UploadedFileStore(testConfig({ dataDir }), clock);
    expect((await reopened.list(alice)).map((file) => file.id)).toEqual([older.id, newer.id]);
  });
});
