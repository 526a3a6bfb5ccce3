/**
 * Finds the JSON value in a model's answer: the whole text, or the body of a code fence around it, or
 * (as a last resort) the outermost `{…}` / `[…]` span. Returns the parsed value, or the parse error.
 */
export function extractJson(text: string): { ok: true; value: unknown; text: string } | { ok: false; reason: string } {
  const candidates = jsonCandidates(text);
  let reason = 'the answer is empty';
  for (const candidate of candidates) {
    try {
      return { ok: true, value: JSON.parse(candidate), text: candidate };
    } catch (error) {
      reason = `it is not valid JSON (${(error as Error).message})`;
    }
  }
  return { ok: false, reason };
}

const FENCE = /^```[\w-]*[ \t]*\n([\s\S]*?)\n?```$/;

function jsonCandidates(text: string): string[] {
  const trimmed = text.trim();
  if (!trimmed) return [];
  const candidates = [trimmed];
  const fenced = FENCE.exec(trimmed);
  if (fenced) candidates.unshift(fenced[1].trim());
  const embedded = outermostSpan(trimmed);
  if (embedded && !candidates.includes(embedded)) candidates.push(embedded);
  return candidates;
}

function outermostSpan(text: string): string | null {
  const start = text.search(/[{[]/);
  if (start < 0) return null;
  const close = text[start] === '{' ? '}' : ']';
  const end = text.lastIndexOf(close);
  return end > start ? text.slice(start, end + 1) : null;
}
