import { createHash, timingSafeEqual } from 'node:crypto';

/** Shows at most the first 6 and last 4 characters of a secret, and at most a quarter of it. */
export function maskSecret(secret: string | null | undefined): string {
  if (!secret) return '<none>';
  if (secret.length <= 12) return `${secret.slice(0, 2)}…(${secret.length})`;
  // At most a quarter of it shows (a short secret would otherwise be all but given away), and never more than its
  // first 6 and last 4 characters.
  const shown = Math.min(10, Math.floor(secret.length / 4));
  const head = Math.min(6, Math.ceil(shown * 0.6));
  const tail = shown - head;
  return `${secret.slice(0, head)}…${tail > 0 ? secret.slice(-tail) : ''}`;
}

/** Constant-time string comparison (hashing first so lengths leak nothing either). */
export function secretsEqual(given: string | null | undefined, expected: string | null | undefined): boolean {
  if (typeof given !== 'string' || typeof expected !== 'string') return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** True when `given` equals one of `candidates`, comparing every candidate in constant time. */
export function secretInList(given: string | null | undefined, candidates: readonly string[]): boolean {
  let found = false;
  for (const candidate of candidates) found = secretsEqual(given, candidate) || found;
  return found;
}

/** A URL with its password replaced by `***` (`redis://:***@host:6379`), for logs and start-up errors. */
export function maskUrlPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return url;
    parsed.password = '***';
    return parsed.toString().replace(/\/$/, url.endsWith('/') ? '/' : '');
  } catch {
    return '<unparsable URL>';
  }
}
