import { Readable } from 'node:stream';

/** A request body that sends one chunk every `everyMs`, `count` times: an upload that keeps moving, slowly. */
export function tricklingBody(count: number, everyMs: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent === count) return void this.push(null);
      setTimeout(() => this.push(Buffer.from(`chunk-${sent++};`)), everyMs);
    },
  });
}
