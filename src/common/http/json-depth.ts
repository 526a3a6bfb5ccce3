/**
 * Deepest nesting of arrays and objects a JSON body may have. Our largest real body (a chat request with
 * content parts and tool schemas) nests about a dozen levels; 64 leaves room for deep tool schemas while
 * keeping recursive code after the parser (validation, class-transformer) far from the stack limit, which
 * a 2,000-deep body reaches.
 */
export const MAX_JSON_DEPTH = 64;

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Whether the JSON text nests deeper than `maxDepth`, found in one pass over the bytes before parsing, so
 * that nothing recursive ever sees such a body. Brackets inside strings do not count; the text need not be
 * valid JSON (the parser reports that).
 */
export function jsonNestingExceeds(text: Uint8Array, maxDepth = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const byte = text[index];
    if (inString) {
      if (byte === BACKSLASH) index++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      if (++depth > maxDepth) return true;
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}
