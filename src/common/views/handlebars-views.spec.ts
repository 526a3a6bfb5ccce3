import { relativeTime } from './handlebars-views';

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
