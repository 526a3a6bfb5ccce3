import { relativeTime } from './handlebars-views';
import { fillText, localize, PAGE_TEXT, type LocalText } from './page-text';

describe('relativeTime', () => {
  it('says how far a time is from now, in the largest whole unit', () => {
    const now = 1_700_000_000_000;
    expect(relativeTime(now + 30_000, now)).toBe('in under a minute');
    expect(relativeTime(now - 30_000, now)).toBe('just now');
    expect(relativeTime(now - 5 * 60_000, now)).toBe('5 min ago');
    expect(relativeTime(now + 3 * 3_600_000, now)).toBe('in 3 h');
    expect(relativeTime(now + 9 * 86_400_000, now)).toBe('in 9 d');
  });
});

describe('relativeTime in Chinese', () => {
  it('speaks the page language (found in review)', () => {
    const now = 1_700_000_000_000;
    const zh = PAGE_TEXT.zh.time;
    expect(relativeTime(now - 30_000, now, zh)).toBe('刚刚');
    expect(relativeTime(now - 5 * 60_000, now, zh)).toBe('5 分钟前');
    expect(relativeTime(now + 9 * 86_400_000, now, zh)).toBe('9 天后');
  });
});

describe('page texts with values', () => {
  it('fills placeholders and picks English plurals by count', () => {
    expect(fillText('{n} {n|seed|seeds}', { n: 1 })).toBe('1 seed');
    expect(fillText('{n} {n|seed|seeds}', { n: 2 })).toBe('2 seeds');
    expect(fillText('{missing}', {})).toBe('{missing}');
  });

  it('renders a stored message in either language, texts within it included (found in review)', () => {
    const restored = { key: 'flash.restored', params: { id: 'acc1', state: { key: 'states.active' } } };
    expect(localize(restored, PAGE_TEXT.en)).toBe('Restored account acc1 (Active).');
    expect(localize(restored, PAGE_TEXT.zh)).toBe('已恢复账号 acc1（可用）。');
    expect(localize({ key: 'flash.no_such_key' }, PAGE_TEXT.en)).toBe('');
  });

  it('shows a flash an earlier release kept, already worded, as it was worded (found in review)', () => {
    const earlier = { kind: 'success', text: 'Removed the seed.' } as unknown as LocalText;
    expect(localize(earlier, PAGE_TEXT.zh)).toBe('Removed the seed.');
  });
});
