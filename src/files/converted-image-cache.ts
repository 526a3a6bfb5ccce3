import { LRUCache } from 'lru-cache';

/**
 * Converted images kept in memory, so that opening a link to a jpeg or webp image again serves the same bytes
 * instead of downloading and converting the file once more (the link needs no API key: anyone holding it could
 * otherwise make the server repeat the conversion at will). Bounded by total bytes; the least recently served
 * entry goes first. Opens of the same key while its conversion runs share that conversion. An entry outlives its
 * link at most in memory: an expired link is refused before the cache is asked.
 */
export class ConvertedImageCache {
  /** An image larger than the whole cache is not kept: it would only push everything else out for nothing. */
  private readonly entries: LRUCache<string, Buffer>;
  private readonly converting = new Map<string, Promise<Buffer>>();

  constructor(maxBytes: number) {
    // The cache counts sizes as positive whole numbers: an empty image counts one byte.
    this.entries = new LRUCache({ maxSize: maxBytes, sizeCalculation: (bytes) => Math.max(1, bytes.length) });
  }

  /** The bytes cached under `key`, else `convert()`'s, shared with any open of `key` already converting. */
  async get(key: string, convert: () => Promise<Buffer>): Promise<Buffer> {
    const cached = this.entries.get(key);
    if (cached) return cached;
    let running = this.converting.get(key);
    if (!running) {
      running = convert()
        .then((bytes) => {
          this.entries.set(key, bytes);
          return bytes;
        })
        .finally(() => this.converting.delete(key));
      this.converting.set(key, running);
    }
    return running;
  }
}
