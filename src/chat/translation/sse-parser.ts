import { StringDecoder } from 'node:string_decoder';

/** One dispatched server-sent event: its `event:` type when given, and its `data:` lines joined with `\n`. */
export interface SseEvent {
  event?: string;
  data: string;
}

const BYTE_ORDER_MARK = '\uFEFF';
const LINE_FEED = 10;
/** Shared: `consume` runs to completion and sets `lastIndex` before each scan. */
const LINE_BREAK = /\r\n|\r|\n/g;

/**
 * Incremental parser for `text/event-stream` bodies (the WHATWG event-stream grammar).
 *
 * Chunks may be cut anywhere, even inside a UTF-8 character or between the `\r` and `\n` of a line break.
 * Each chunk is scanned once: only the unfinished last line is carried over, so the cost is linear in the input.
 */
export class SseParser {
  private readonly decoder = new StringDecoder('utf8');
  private unfinishedLine = '';
  /** The previous chunk ended with `\r`: a `\n` opening the next one belongs to the same line break. */
  private lineFeedMayFollow = false;
  private atStreamStart = true;
  private eventType: string | undefined;
  private dataLines: string[] = [];

  push(chunk: Buffer | string): SseEvent[] {
    return this.consume(typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
  }

  /** The body ended: a last line or event without its terminating blank line is still delivered. */
  end(): SseEvent[] {
    const events = this.consume(this.decoder.end());
    if (this.unfinishedLine !== '') {
      this.readLine(this.unfinishedLine, events);
      this.unfinishedLine = '';
    }
    this.dispatch(events);
    return events;
  }

  private consume(text: string): SseEvent[] {
    const events: SseEvent[] = [];
    if (text === '') return events;
    let start = 0;
    if (this.atStreamStart) {
      this.atStreamStart = false;
      if (text.startsWith(BYTE_ORDER_MARK)) start = 1;
    }
    if (this.lineFeedMayFollow) {
      this.lineFeedMayFollow = false;
      if (text.charCodeAt(start) === LINE_FEED) start += 1;
    }
    const lineBreak = LINE_BREAK;
    lineBreak.lastIndex = start;
    for (let match = lineBreak.exec(text); match; match = lineBreak.exec(text)) {
      const line = this.unfinishedLine + text.slice(start, match.index);
      this.unfinishedLine = '';
      start = match.index + match[0].length;
      if (match[0] === '\r' && start === text.length) this.lineFeedMayFollow = true;
      this.readLine(line, events);
    }
    if (start < text.length) this.unfinishedLine += text.slice(start);
    return events;
  }

  private readLine(line: string, events: SseEvent[]): void {
    if (line === '') {
      this.dispatch(events);
      return;
    }
    if (line.charCodeAt(0) === 0x3a /* ':' comment */) return;
    // Nearly every line is `data: …`: read it without cutting out the field name first.
    if (line.startsWith('data: ')) {
      this.dataLines.push(line.slice(6));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.dataLines.push(value);
    else if (field === 'event') this.eventType = value;
  }

  private dispatch(events: SseEvent[]): void {
    if (this.dataLines.length > 0) {
      const event: SseEvent = { data: this.dataLines.join('\n') };
      if (this.eventType) event.event = this.eventType;
      events.push(event);
    }
    this.dataLines = [];
    this.eventType = undefined;
  }
}
