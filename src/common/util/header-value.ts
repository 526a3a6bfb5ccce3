/** Visible ASCII only: what every HTTP stack accepts in a header value unchanged (Node refuses others with ERR_INVALID_CHAR or mangles them). */
const HEADER_SAFE = /^[\x21-\x7e]+$/;

/** Whether a credential can be sent as (part of) an HTTP header value unchanged. */
export function isHeaderSafe(value: string): boolean {
  return HEADER_SAFE.test(value);
}
