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

/** Query parameters whose value may be a credential (`?password=`, `?sentinelPassword=`, `?token=`, `?api_key=` …). */
const SECRET_PARAMETER = /pass|pwd|token|secret|key|auth|credential/i;

/**
 * A URL as logs, start-up errors and client messages may show it: the user name and password become `***`
 * (`redis://***@host:6379/2`), and so does the value of every query parameter that may hold a credential
 * (`?password=***`: ioredis, for one, takes its password there too).
 */
export function maskUrlCredentials(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '<unparsable URL>';
  }
  const auth = parsed.username || parsed.password ? '***@' : '';
  for (const name of new Set(parsed.searchParams.keys())) if (SECRET_PARAMETER.test(name)) parsed.searchParams.set(name, '***');
  const path = parsed.pathname === '/' && !url.endsWith('/') ? '' : parsed.pathname;
  return `${parsed.protocol}//${auth}${parsed.host}${path}${parsed.search}`;
}

/** What could be a credential in text another party wrote: a JWT or JWE, a bearer value, a long run of token characters. */
const CREDENTIAL_SHAPES = /\bBearer\s+\S+|eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){1,4}|[A-Za-z0-9_+-]{40,}=*/gi;

/**
 * Text from the upstream (an error's detail) as it may be shown to a client or logged: an upstream or a relay in
 * front of it may echo the request's headers, the account's token with them. Anything shaped like a credential
 * becomes `[redacted]`: a JWT or JWE, a bearer value, and a run of 40 or more token characters that reads like a
 * random secret (mixed case with digits, or hex). Words, ids (a UUID is 36 characters), paths and a help page's
 * long slug stay.
 */
export function withoutCredentials(text: string): string {
  return text.replace(CREDENTIAL_SHAPES, (found) => {
    if (/^Bearer\s/i.test(found)) return 'Bearer [redacted]';
    if (found.startsWith('eyJ')) return '[redacted]';
    const random = (/[A-Z]/.test(found) && /[a-z]/.test(found) && /\d/.test(found)) || /^[a-f\d]+$/i.test(found);
    return random ? '[redacted]' : found;
  });
}
