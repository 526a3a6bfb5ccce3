import { ApiError } from '../common/errors/api-error';
import { localize, PAGE_TEXT } from '../common/views/page-text';
import type { PoolAdmin } from '../token-pool/pool-admin';
import type { PoolReadModel } from '../token-pool/pool-read-model';
import type { PoolRefresher } from '../token-pool/pool-refresher';
import type { UploadResult } from '../token-pool/pool.types';
import type { SeedRegistry } from '../token-pool/seed-registry';
import { FakeClock } from '../token-pool/testing/fake-clock';
import { AdminDashboardService, dashboardUrlFor, pageNumber, uploadSummary } from './admin-dashboard.service';

describe('AdminDashboardService.upload', () => {
  it('takes a line break to be CRLF, LF or a lone CR (old Mac files), so that each token is a line of its own', async () => {
    const upload = jest.fn(async (lines: string[]): Promise<UploadResult> => ({
      added: lines.length,
      replaced: 0,
      duplicates: 0,
      invalid: 0,
      invalidLines: [],
    }));
    const dashboard = new AdminDashboardService(
      {} as PoolReadModel,
      { upload } as unknown as PoolAdmin,
      {} as PoolRefresher,
      {} as SeedRegistry,
      new FakeClock(),
    );
    await dashboard.upload('t1\rt2\r\nt3\nt4\r\rt6');
    expect(upload).toHaveBeenCalledWith(['t1', 't2', 't3', 't4', '', 't6']);
  });

  it('shows an upload that put an account back in service as a success, though it added none', async () => {
    const outcome = (result: Omit<UploadResult, 'invalid' | 'invalidLines'>) =>
      new AdminDashboardService(
        {} as PoolReadModel,
        { upload: async () => ({ ...result, invalid: 0, invalidLines: [] }) } as unknown as PoolAdmin,
        {} as PoolRefresher,
        {} as SeedRegistry,
        new FakeClock(),
      ).upload('token');
    expect(await outcome({ added: 0, replaced: 1, duplicates: 0 })).toMatchObject({ kind: 'success' });
    expect(await outcome({ added: 0, replaced: 0, duplicates: 1 })).toMatchObject({ kind: 'error' });
  });
});

describe('uploadSummary', () => {
  const summary = (invalidLines: number[], lang: 'en' | 'zh' = 'en') =>
    localize(uploadSummary({ added: 1, replaced: 0, duplicates: 2, invalid: invalidLines.length, invalidLines }), PAGE_TEXT[lang]);

  it('lists the invalid lines', () => {
    expect(summary([])).toBe('Added 1, 2 duplicates, 0 invalid.');
    expect(summary([6])).toBe('Added 1, 2 duplicates, 1 invalid (line 6).');
    expect(summary([2, 3], 'zh')).toBe('已添加 1 个，重复 2 个，无效 2 个（第 2, 3 行）。');
  });

  it('names the expired or disabled accounts that took a new token', () => {
    const replacing = (replaced: number, lang: 'en' | 'zh' = 'en') =>
      localize(uploadSummary({ added: 0, replaced, duplicates: 0, invalid: 0, invalidLines: [] }), PAGE_TEXT[lang]);
    expect(replacing(1)).toBe('Added 0, put 1 expired or disabled account back in service with its new token, 0 duplicates, 0 invalid.');
    expect(replacing(2)).toBe('Added 0, put 2 expired or disabled accounts back in service with their new token, 0 duplicates, 0 invalid.');
    expect(replacing(1, 'zh')).toBe('已添加 0 个，1 个已过期或已停用的账号换上新令牌后恢复使用，重复 0 个，无效 0 个。');
  });

  it('lists only the first 20 line numbers of a huge garbage upload, and how many more (found in review)', () => {
    const lines = Array.from({ length: 200_000 }, (_, index) => index + 1);
    const listed = Array.from({ length: 20 }, (_, index) => index + 1).join(', ');
    expect(summary(lines)).toBe(`Added 1, 2 duplicates, 200000 invalid (lines ${listed}, and 199980 more).`);
    expect(summary(lines, 'zh')).toBe(`已添加 1 个，重复 2 个，无效 200000 个（第 ${listed} 行，另有 199980 行）。`);
    expect(
      JSON.stringify(uploadSummary({ added: 0, replaced: 0, duplicates: 0, invalid: lines.length, invalidLines: lines })).length,
    ).toBeLessThan(500);
  });
});

describe('AdminDashboardService.createSeed', () => {
  // The refusal was the API's English message inside the page's own words: "操作未完成：A seed must be 8 to 256 …".
  it("refuses a seed of the wrong shape, or one that is a credential or a server secret, in the page's language", async () => {
    const createSeedReporting = jest.fn(async (seed?: string) => {
      if (seed === 'the-admin-secret') throw ApiError.invalidRequest('A seed must not be … the admin secret.', 'invalid_seed', 'seed');
      return { seed: seed ?? 'random-seed', created: true };
    });
    const dashboard = new AdminDashboardService(
      {} as PoolReadModel,
      {} as PoolAdmin,
      {} as PoolRefresher,
      { createSeedReporting } as unknown as SeedRegistry,
      new FakeClock(),
    );
    const flash = async (seed: string | undefined, lang: 'en' | 'zh') => localize(await dashboard.createSeed(seed), PAGE_TEXT[lang]);
    expect(await flash('short', 'zh')).toBe('种子须为 8 到 256 个可见 ASCII 字符（字母、数字、标点；不含空格）。');
    expect(await flash('has a space', 'en')).toBe(
      'A seed must be 8 to 256 visible ASCII characters (letters, digits, punctuation; no spaces).',
    );
    expect(await flash('the-admin-secret', 'zh')).toBe('种子不能是访问令牌、刷新令牌、池密钥或管理密钥。');
    expect(await flash('  good-seed-1  ', 'en')).toMatch(/^Seed ready: good-seed-1\./);
    expect(await flash(undefined, 'en')).toMatch(/^Seed ready: random-seed\./);
    expect(createSeedReporting).not.toHaveBeenCalledWith('short');
  });

  // "Seed ready: …, give it to its user now" for a seed its user already had read as if a new one had been made.
  it('says so when the seed already existed', async () => {
    const createSeedReporting = jest.fn(async (seed?: string) => ({ seed: seed ?? 'random-seed', created: seed !== 'old-seed-1' }));
    const dashboard = new AdminDashboardService(
      {} as PoolReadModel,
      {} as PoolAdmin,
      {} as PoolRefresher,
      { createSeedReporting } as unknown as SeedRegistry,
      new FakeClock(),
    );
    const flash = async (seed: string, lang: 'en' | 'zh') => localize(await dashboard.createSeed(seed), PAGE_TEXT[lang]);
    expect(await flash(' old-seed-1 ', 'en')).toBe('The seed old-seed-1 already existed: nothing changed.');
    expect(await flash('old-seed-1', 'zh')).toBe('种子 old-seed-1 已存在，没有任何改动。');
    expect(await flash('new-seed-1', 'en')).toMatch(/^Seed ready: new-seed-1\./);
  });
});

describe('the pages of accounts', () => {
  // ?page=99 showed the last page, ?page=12345678 the first: a page past the last is the last, however far past.
  it('shows the last page for any page number past it, and the first for anything that is not a page number', async () => {
    const accounts = Array.from({ length: 250 }, (_, index) => ({ id: `account-${index}`, state: 'active', maskedToken: 'x' }));
    const readModel = { counts: async () => ({}), list: async () => accounts } as unknown as PoolReadModel;
    const seeds = { listSeeds: async () => [] } as unknown as SeedRegistry;
    const dashboard = new AdminDashboardService(readModel, {} as PoolAdmin, {} as PoolRefresher, seeds, new FakeClock());
    const pageFor = async (text: unknown) => (await dashboard.model(pageNumber(text))).pager.page;
    expect(await pageFor('2')).toBe(2);
    expect(await pageFor('99')).toBe(3);
    expect(await pageFor('12345678')).toBe(3);
    expect(await pageFor('9'.repeat(40))).toBe(3);
    // A row's action comes back to the page its form named: a number that still reads as one.
    expect(dashboardUrlFor(pageNumber('9'.repeat(400)))).toMatch(/^\/admin\?page=\d+$/);
    for (const text of [undefined, '', '0', '-1', '1.5', '1e3', 'abc', ['2'], '../../x']) expect(await pageFor(text)).toBe(1);
  });
});
