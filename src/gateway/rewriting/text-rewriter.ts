import { Transform } from 'node:stream';

/**
 * Exact, single-pass string replacement. The web app's bootstrap context is a turbo-stream, not JSON, so nothing
 * is parsed and patched: upstream host names and the account's secrets are found as exact strings (a JWT or an
 * e-mail address survives JSON and JS escaping unchanged) and replaced in one scan, longest match first.
 */
export class TextRewriter {
  private readonly pattern: RegExp | null;
  private readonly replacements: Map<string, string>;

  constructor(pairs: ReadonlyArray<readonly [from: string, to: string]>) {
    this.replacements = new Map();
    for (const [from, to] of pairs) if (from && from !== to && !this.replacements.has(from)) this.replacements.set(from, to);
    const froms = [...this.replacements.keys()].sort((a, b) => b.length - a.length);
    this.pattern = froms.length > 0 ? new RegExp(froms.map(escapeRegExp).join('|'), 'g') : null;
  }

  get empty(): boolean {
    return this.pattern === null;
  }

  /** The text with every occurrence replaced, and whether anything was. */
  apply(text: string): { text: string; changed: boolean } {
    if (!this.pattern) return { text, changed: false };
    let changed = false;
    const out = text.replace(this.pattern, (found) => {
      changed = true;
      return this.replacements.get(found) ?? found;
    });
    return { text: out, changed };
  }

  /** Both rewriters in one pass (the first's pairs win on equal keys). */
  plus(other: TextRewriter): TextRewriter {
    return new TextRewriter([...this.replacements.entries(), ...other.replacements.entries()]);
  }
}

/** Line ends: no secret holds one, so none straddles a line end. */
const LF = 0x0a;
const CR = 0x0d;

/**
 * A stream rewritten as it passes: what has arrived up to its last line end goes on at once, rewritten; the rest
 * waits for the end of its line (an event or a record comes whole, so nothing is held back in practice). A line
 * longer than `maxLineBytes` fails the stream: it could be neither rewritten whole nor cut safely.
 */
export function rewritingStream(rewriter: TextRewriter, maxLineBytes: number): Transform {
  let held: Buffer[] = [];
  let heldBytes = 0;
  const rewritten = (bytes: Buffer) => Buffer.from(rewriter.apply(bytes.toString('utf8')).text, 'utf8');
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const end = Math.max(chunk.lastIndexOf(LF), chunk.lastIndexOf(CR)) + 1;
      if (end === 0) {
        held.push(chunk);
        heldBytes += chunk.length;
        return callback(heldBytes > maxLineBytes ? new Error(`a line over ${maxLineBytes} bytes cannot be rewritten`) : null);
      }
      const lines = Buffer.concat([...held, chunk.subarray(0, end)]);
      held = end < chunk.length ? [chunk.subarray(end)] : [];
      heldBytes = chunk.length - end;
      callback(null, rewritten(lines));
    },
    flush(callback) {
      callback(null, heldBytes > 0 ? rewritten(Buffer.concat(held)) : undefined);
    },
  });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
