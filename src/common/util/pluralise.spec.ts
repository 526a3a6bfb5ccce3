import { nounFor, pluralise } from './pluralise';

describe('pluralise', () => {
  it('adds an s to every count but one', () => {
    expect(pluralise(0, 'duplicate')).toBe('0 duplicates');
    expect(pluralise(1, 'duplicate')).toBe('1 duplicate');
    expect(pluralise(2, 'minute')).toBe('2 minutes');
    expect(nounFor(1, 'line')).toBe('line');
    expect(nounFor(3, 'line')).toBe('lines');
  });
});
