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
 * block (a line that so far reads `<tool_`, or a code fence whose next line is not known yet) is held back
 * until it is decided; everything else is released at once. The block itself is never released, and
 * text after it (the model inventing results) is dropped.
 */
export class ToolCallScanner {
  private released = '';
  private held = '';
  /** Whether `held` begins at the start of a line. */
  private heldStartsLine = true;
  /** Line starts in `held` before this index are already known not to open a block. */
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
    let safe = this.scan();
    if (this.blockText !== null || this.holdAll || safe === 0) return '';
    // A line break (with the blank space around it) waits for the next text: before a block it is the block's layout,
    // not the answer's, and a stream that sent it would end otherwise than the whole answer (which is trimmed).
    let blankFrom = safe;
    while (blankFrom > 0 && WHITESPACE.test(this.held[blankFrom - 1])) blankFrom--;
    if (this.held.lastIndexOf('\n', safe - 1) >= blankFrom) safe = blankFrom;
    if (safe === 0) return '';
    const out = this.held.slice(0, safe);
    this.held = this.held.slice(safe);
    this.released += out;
    this.checked -= safe;
    this.heldStartsLine = out.endsWith('\n');
    return out;
  }

  end(): ScannedAnswer {
    if (this.blockText === null) {
      return { before: this.released + this.held, unreleased: this.held, block: null, closed: false };
    }
    return { before: this.before, unreleased: this.before.slice(this.released.length), block: this.blockText, closed: this.closed };
  }

  /** Looks for the block at each undecided line start; returns how much of `held` is safe to release. */
  private scan(): number {
    for (const start of this.lineStarts()) {
      const opening = matchOpening(this.held.slice(start));
      if (opening.kind === 'full') {
        // The blank space before the block is its layout (see `push`).
        this.before = this.released + this.held.slice(0, start).trimEnd();
        this.blockText = '';
        const rest = this.held.slice(start + opening.length);
        this.held = '';
        this.feedBlock(rest);
        return 0;
      }
      if (opening.kind === 'partial') {
        this.checked = start;
        return start;
      }
    }
    this.checked = this.held.length;
    return this.held.length;
  }

  private *lineStarts(): Generator<number> {
    if (this.checked === 0 && this.heldStartsLine) yield 0;
    for (let i = this.held.indexOf('\n', Math.max(0, this.checked - 1)); i >= 0; i = this.held.indexOf('\n', i + 1)) {
      if (i + 1 >= this.checked) yield i + 1;
    }
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

function skip(text: string, from: number, pattern: RegExp): number {
  let i = from;
  while (i < text.length && pattern.test(text[i])) i++;
  return i;
}
