import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processIdentity } from './data-dir-owner';
import { FileAccountStore } from './file-account-store';

/** A DATA_DIR on a file system without hard links (FAT, exFAT, some FUSE and network mounts): link() fails with EPERM. */
jest.mock('node:fs/promises', () => {
  const actual = jest.requireActual<typeof import('node:fs/promises')>('node:fs/promises');
  return {
    ...actual,
    link: () => Promise.reject(Object.assign(new Error('EPERM: operation not permitted, link'), { code: 'EPERM' })),
  };
});

describe('FileAccountStore on a file system without hard links', () => {
  let dataDir: string;
  beforeEach(async () => (dataDir = await mkdtemp(join(tmpdir(), 'flowgpt-nolinks-'))));
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it('still claims the folder, naming this process in flowgpt.pid', async () => {
    const store = new FileAccountStore({ dataDir });
    await store.open();
    expect(JSON.parse(await readFile(join(dataDir, 'flowgpt.pid'), 'utf8'))).toEqual(processIdentity(process.pid));
    await store.close();
  });
});
