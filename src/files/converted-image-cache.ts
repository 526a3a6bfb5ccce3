/**
 * Converted images kept in memory, so that opening a link to a jpeg or webp image again serves the same bytes
 * instead of downloading and converting the file once more (the link needs no API key: anyone holding it could
 * otherwise make the server repeat the conversion at will). Bounded by total bytes; the least recently served
 * entry goes first. Opens of the same key while its conversion runs share that conversion. An entry outlives its
 * link at most in memory: an expired link is refused before the cache is asked.
 */
export class ConvertedImageCache {
  /** Insertion order is recency order: a hit moves its entry to the end. */
  private readonly entries = new Map<string, Buffer>();
  private readonly converting = new Map<string, Promise<Buffer>>();
  private totalBytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** The bytes cached under `key`, else `convert()`'s, shared with any open of `key` already converting. */
  async get(key: string, convert: () => Promise<Buffer>): Promise<Buffer> {
    const cached = this.entries.get(key);
    if (cached) {
      this.entries.delete(key);
      this.entries.set(key, cached);
      return cached;
    }
    let running = this.converting.get(key);
    if (!running) {
      running = convert()
        .then((bytes) => {
          this.store(key, bytes);
          return bytes;
        })
        .finally(() => this.converting.delete(key));
      this.converting.set(key, running);
    }
    return running;
  }

  private store(key: string, bytes: Buffer): void {
    // An image larger than the whole cache would only push everything else out for nothing.
    if (bytes.length > this.maxBytes) return;
    this.totalBytes += bytes.length;
    this.entries.set(key, bytes);
    for (const [oldest, old] of this.entries) {
      if (this.totalBytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.totalBytes -= old.length;
    }
  }
}
