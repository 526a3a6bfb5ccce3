import { createHash, timingSafeEqual } from 'node:crypto';

/** Shows at most the first 6 and last 4 characters of a secret. */
export function maskSecret(secret: string | null | undefined): string {
  if (!secret) return '<none>';
  if (secret.length <= 12) return `${secret.slice(0, 2)}…(${secret.length})`;
  return `${secret.slice(0, 6)}…${secret.slice(-4)}`;
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
