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

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
