import { CALLS_CLOSE, CALLS_OPEN } from './tool-convention';

/** What one answer contained: its text before the calls block, and the block itself when there was one. */
export interface ScannedAnswer {
  /** The answer text before the block (the whole answer when there is no block). */
  before: string;
  /** The part of `before` that `push` has not released yet. */
  unreleased: string;
  /** The text between the tags, or null when no block was opened. */
  block: string | null;
  /** Whether the closing tag arrived (a block cut short may still hold usable JSON). */
  closed: boolean;
}

const WHITESPACE = /\s/;

type Opening = { kind: 'full'; length: number } | { kind: 'partial' } | { kind: 'none' };

/**
 * Streams answer text through while watching for the calls block. Text that could be the start of the
 * block (a line that so far reads `<tool_`, a code fence whose next line is not known yet, or a `<tool_calls>`
 * after text on the same line whose JSON has not begun yet) is held back until it is decided; everything else
 * is released at once. The block itself is never released, and text after it (the model inventing results) is
 * dropped.
 *
 * The convention asks for the tag on a line of its own, but models also write it after a sentence. There it
 * opens a block only when JSON follows it, and not in code (a fenced block or an inline code span), so prose
 * and examples that mention the tag pass intact.
 */
export class ToolCallScanner {
  private released = '';
  private held = '';
  /** The released text of the line `held` begins on (empty when `held` begins a line). */
  private lineSoFar = '';
  /** The fence that the line holding `held[checked]` lies inside, if any (its marker, e.g. ```). */
  private fence: string | null = null;
  /** Places in `held` before this index are already known not to open a block. */
  private checked = 0;
  private blockText: string | null = null;
  /** How far `blockText` was read for its closing tag, and the JSON string state there. */
  private blockScanned = 0;
  private inString = false;
  private escaped = false;
  private before = '';
  private closed = false;

  /** @param holdAll release nothing until the end (the answer is judged whole, e.g. JSON output). */
  constructor(private readonly holdAll = false) {}

  push(text: string): string {
    if (this.blockText !== null) {
      if (!this.closed) this.feedBlock(text);
      return '';
    }
    this.held += text;
    const decided = this.scan();
    if (this.blockText !== null || this.holdAll || decided === 0) return '';
    // Blank space before a possible block waits with it, and so does a line break (with the blank space around it)
    // until the next text: before a block both are its layout, not the answer's, and a stream that sent them would
    // end otherwise than the whole answer (which is trimmed).
    let safe = decided;
    let blankFrom = safe;
    while (blankFrom > 0 && WHITESPACE.test(this.held[blankFrom - 1])) blankFrom--;
    if (safe < this.held.length || this.held.lastIndexOf('\n', safe - 1) >= blankFrom) safe = blankFrom;
    if (safe === 0) return '';
    const out = this.held.slice(0, safe);
    this.held = this.held.slice(safe);
    this.released += out;
    this.checked -= safe;
    const lineBreak = out.lastIndexOf('\n');
    this.lineSoFar = lineBreak >= 0 ? out.slice(lineBreak + 1) : this.lineSoFar + out;
    return out;
  }

  end(): ScannedAnswer {
    if (this.blockText === null) {
      return { before: this.released + this.held, unreleased: this.held, block: null, closed: false };
    }
    return { before: this.before, unreleased: this.before.slice(this.released.length), block: this.blockText, closed: this.closed };
  }

  /** Looks for the block at each undecided place; returns how much of `held` is decided (and so safe to release). */
  private scan(): number {
    const held = this.held;
    for (let i = this.checked; i < held.length; i++) {
      if (i === 0 ? this.lineSoFar === '' : held[i - 1] === '\n') {
        const opening = matchOpening(held.slice(i));
        if (opening.kind === 'full') return this.openBlock(i, i + opening.length);
        if (opening.kind === 'partial') return (this.checked = i);
      }
      if (held[i] === '\n') this.fence = fenceAfter(this.lineBefore(i), this.fence);
      else if (held[i] === '<' && this.fence === null && !inCodeSpan(this.lineBefore(i))) {
        const opening = matchInlineOpening(held, i);
        if (opening === 'full') return this.openBlock(i, i + CALLS_OPEN.length);
        if (opening === 'partial') return (this.checked = i);
      }
    }
    return (this.checked = held.length);
  }

  /** The text of the line `held[at]` is on, before it. */
  private lineBefore(at: number): string {
    const lineBreak = at > 0 ? this.held.lastIndexOf('\n', at - 1) : -1;
    return lineBreak >= 0 ? this.held.slice(lineBreak + 1, at) : this.lineSoFar + this.held.slice(0, at);
  }

  /** The block's tag spans `held[start, tagEnd)`; the blank space before it is its layout (see `push`). */
  private openBlock(start: number, tagEnd: number): number {
    this.before = (this.released + this.held.slice(0, start)).trimEnd();
    this.blockText = '';
    const rest = this.held.slice(tagEnd);
    this.held = '';
    this.feedBlock(rest);
    return 0;
  }

  /** Adds block text, up to the closing tag: one outside a JSON string (an argument may well quote the tag). */
  private feedBlock(text: string): void {
    const block = (this.blockText += text);
    for (let i = this.blockScanned; i < block.length; i++) {
      const char = block[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (char === '\\') this.escaped = true;
        else if (char === '"') this.inString = false;
      } else if (char === '"') {
        this.inString = true;
      } else if (char === '<' && block.startsWith(CALLS_CLOSE, i)) {
        this.blockText = block.slice(0, i);
        this.closed = true;
        return;
      } else if (char === '<' && CALLS_CLOSE.startsWith(block.slice(i))) {
        // The tag may be arriving: looked at again with the next text.
        this.blockScanned = i;
        return;
      }
    }
    this.blockScanned = block.length;
  }
}

/**
 * Whether a line opens the calls block: optional indentation, optionally a code fence line (some models
 * wrap the block in one), then the opening tag. `partial` while the text so far could still become one.
 */
export function matchOpening(line: string): Opening {
  let i = skip(line, 0, /[ \t]/);
  if (i === line.length) return { kind: 'partial' };
  if (line[i] === '`') {
    const ticks = skip(line, i, /`/) - i;
    if (ticks < 3) return i + ticks === line.length ? { kind: 'partial' } : { kind: 'none' };
    i = skip(line, i + 3, /[\w-]/);
    i = skip(line, i, /[ \t]/);
    if (i === line.length) return { kind: 'partial' };
    if (line[i] !== '\n') return { kind: 'none' };
    i = skip(line, i + 1, /\s/);
    if (i === line.length) return { kind: 'partial' };
  }
  const rest = line.slice(i);
  if (rest.startsWith(CALLS_OPEN)) return { kind: 'full', length: i + CALLS_OPEN.length };
  return CALLS_OPEN.startsWith(rest) ? { kind: 'partial' } : { kind: 'none' };
}

/**
 * Whether the tag at `text[at]`, after other text on its line, opens the calls block: only when JSON (an array or
 * an object) follows it, so prose that names the tag is not taken for a call.
 */
function matchInlineOpening(text: string, at: number): 'full' | 'partial' | 'none' {
  const rest = text.slice(at, at + CALLS_OPEN.length);
  if (rest.length < CALLS_OPEN.length) return CALLS_OPEN.startsWith(rest) ? 'partial' : 'none';
  if (rest !== CALLS_OPEN) return 'none';
  const json = skip(text, at + CALLS_OPEN.length, WHITESPACE);
  if (json === text.length) return 'partial';
  return text[json] === '[' || text[json] === '{' ? 'full' : 'none';
}

/** Whether the end of a line's text lies inside an inline code span (an odd number of backticks before it). */
function inCodeSpan(line: string): boolean {
  let ticks = 0;
  for (const char of line) if (char === '`') ticks++;
  return ticks % 2 === 1;
}

/** The fence open after a whole line (Markdown: three or more backticks or tildes, indented at most three spaces). */
function fenceAfter(line: string, fence: string | null): string | null {
  const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
  if (!marker) return fence;
  if (fence === null) return marker;
  return marker[0] === fence[0] && marker.length >= fence.length && line.trim() === marker ? null : fence;
}

function skip(text: string, from: number, pattern: RegExp): number {
  let i = from;
  while (i < text.length && pattern.test(text[i])) i++;
  return i;
}
