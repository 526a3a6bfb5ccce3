/** OpenAI's limit on `stop`: at most this many strings. */
export const MAX_STOP_SEQUENCES = 4;

/** The stop strings of a request's `stop` (a string, an array of strings, or null); empty strings stop nothing. */
export function stopSequencesOf(stop: string | string[] | null | undefined): string[] {
  if (stop === undefined || stop === null) return [];
  return (typeof stop === 'string' ? [stop] : stop).filter((sequence) => sequence.length > 0);
}

/** Text that may be shown now, and whether a stop string ended the answer (nothing more may be shown then). */
export interface StopCut {
  released: string;
  stopped: boolean;
}

/**
 * Cuts streamed answer text just before the first stop string, as OpenAI's `stop` does, wherever the upstream's
 * chunks split it. Text that could still become a stop string is held back until the next text (or the end)
 * says whether it does; the cut is where the whole text would be cut, however it was chunked.
 */
export class StopSequences {
  /** Text received but not released: it starts a stop string that may still complete. */
  private held = '';
  private stopped = false;
  /** The most text that can be the beginning (not the whole) of a stop string: how far back `firstPartial` looks. */
  private readonly longestPartial: number;

  constructor(private readonly sequences: readonly string[]) {
    this.longestPartial = Math.max(0, ...sequences.map((sequence) => sequence.length - 1));
  }

  /** Takes the next text of the answer; once a stop string was found, everything is dropped. */
  push(text: string): StopCut {
    if (this.stopped) return { released: '', stopped: true };
    const pending = this.held + text;
    const match = this.firstMatch(pending);
    const partial = this.firstPartial(pending);
    // A stop string that may still complete and starts before the match would cut earlier: wait for it.
    if (match !== null && (partial === null || match <= partial)) return this.stopAt(pending, match);
    const keepFrom = partial ?? pending.length;
    this.held = pending.slice(keepFrom);
    return { released: pending.slice(0, keepFrom), stopped: false };
  }

  /**
   * Nothing can follow the held text directly (the answer ended, or a file link comes next): it is released,
   * cut before a stop string it holds. Later text is read afresh.
   */
  flush(): StopCut {
    if (this.stopped) return { released: '', stopped: true };
    const pending = this.held;
    this.held = '';
    const match = this.firstMatch(pending);
    return match === null ? { released: pending, stopped: false } : this.stopAt(pending, match);
  }

  private stopAt(pending: string, at: number): StopCut {
    this.stopped = true;
    this.held = '';
    return { released: pending.slice(0, at), stopped: true };
  }

  /** Where the earliest complete stop string starts in `text`, or null. */
  private firstMatch(text: string): number | null {
    let first: number | null = null;
    for (const sequence of this.sequences) {
      const at = text.indexOf(sequence);
      if (at >= 0 && (first === null || at < first)) first = at;
    }
    return first;
  }

  /** Where the earliest tail of `text` starts that is the beginning (not the whole) of a stop string, or null. */
  private firstPartial(text: string): number | null {
    for (let at = Math.max(0, text.length - this.longestPartial); at < text.length; at++) {
      const tail = text.slice(at);
      if (this.sequences.some((sequence) => sequence.length > tail.length && sequence.startsWith(tail))) return at;
    }
    return null;
  }
}
