import { ConvertedImageCache } from './converted-image-cache';

describe('ConvertedImageCache', () => {
  const bytes = (size: number, fill: number) => Buffer.alloc(size, fill);

  it('converts a key once, and shares a conversion still running with a second open', async () => {
    const cache = new ConvertedImageCache(100);
    let conversions = 0;
    let finish!: (value: Buffer) => void;
    const convert = () => {
      conversions++;
      return new Promise<Buffer>((resolve) => (finish = resolve));
    };
    const first = cache.get('a', convert);
    const second = cache.get('a', convert);
    finish(bytes(10, 1));
    expect(await first).toEqual(bytes(10, 1));
    expect(await second).toEqual(bytes(10, 1));
    expect(await cache.get('a', convert)).toEqual(bytes(10, 1));
    expect(conversions).toBe(1);
  });

  it('keeps no failure: the next open converts again', async () => {
    const cache = new ConvertedImageCache(100);
    await expect(cache.get('a', () => Promise.reject(new Error('upstream broke')))).rejects.toThrow('upstream broke');
    expect(await cache.get('a', async () => bytes(5, 2))).toEqual(bytes(5, 2));
  });

  it('evicts the least recently served entry once the total passes the bound', async () => {
    const cache = new ConvertedImageCache(100);
    const converted: string[] = [];
    const open = (key: string) =>
      cache.get(key, async () => {
        converted.push(key);
        return bytes(40, key.charCodeAt(0));
      });
    await open('a');
    await open('b');
    await open('a');
    await open('c');
    expect(converted).toEqual(['a', 'b', 'c']);
    await open('a');
    await open('b');
    expect(converted).toEqual(['a', 'b', 'c', 'b']);
  });

  it('does not keep an image larger than the whole bound', async () => {
    const cache = new ConvertedImageCache(100);
    let conversions = 0;
    const convert = async () => {
      conversions++;
      return bytes(101, 3);
    };
    await cache.get('big', convert);
    await cache.get('big', convert);
    expect(conversions).toBe(2);
  });
});
