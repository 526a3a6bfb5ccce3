/** `pluralise(2, 'duplicate')` → "2 duplicates", `pluralise(1, 'minute')` → "1 minute". */
export function pluralise(count: number, noun: string): string {
  return `${count} ${nounFor(count, noun)}`;
}

/** The noun alone, for when the count is written elsewhere: `nounFor(2, 'line')` → "lines". */
export function nounFor(count: number, noun: string): string {
  return count === 1 ? noun : `${noun}s`;
}
