/**
 * A `next` / `callbackUrl` value we may redirect to: a path on this site, or `/` when it is anything else.
 * Only `/…` is accepted: not `//host` or `/\host` (browsers read both as another host), no backslash or
 * control character anywhere (some browsers turn `\` into `/`, and strip tabs and newlines), no scheme.
 * Checked after one percent-decoding too, since a page may decode the value once more before using it.
 */
export function safeNextPath(value: unknown): string {
  if (typeof value !== 'string' || value.length > 2048) return '/';
  let decoded: string;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    return '/';
  }
  return [value, decoded].every(isLocalPath) ? value : '/';
}

/**
 * A next-auth `callbackUrl` (the client sends the page's full URL by default) as a path we may redirect to: an
 * absolute URL on this site (`isOwnUrl`) becomes its path, and the result is then checked as `safeNextPath` does.
 */
export function safeCallbackPath(value: unknown, isOwnUrl: (url: string) => boolean): string {
  if (typeof value === 'string' && !value.startsWith('/') && isOwnUrl(value)) {
    const url = new URL(value);
    return safeNextPath(`${url.pathname}${url.search}${url.hash}`);
  }
  return safeNextPath(value);
}

function isLocalPath(path: string): boolean {
  if (!path.startsWith('/') || path.startsWith('//')) return false;
  // eslint-disable-next-line no-control-regex
  return !/[\\\u0000-\u001f\u007f]/.test(path);
}
