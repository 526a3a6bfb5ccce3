import { growthRatio, LINEAR_GROWTH_LIMIT } from '../../common/testing/growth';
import { SseEvent, SseParser } from './sse-parser';

function parseInChunks(chunks: (Buffer | string)[]): SseEvent[] {
  const parser = new SseParser();
  return [...chunks.flatMap((chunk) => parser.push(chunk)), ...parser.end()];
}

describe('SseParser', () => {
  it('parses data and event fields, one event per blank line', () => {
    const events = parseInChunks(['event: delta_encoding\ndata: "v1"\n\ndata: {"a":1}\n\n']);
    expect(events).toEqual([{ event: 'delta_encoding', data: '"v1"' }, { data: '{"a":1}' }]);
  });

  it('joins several data lines with \\n and strips only one space after the colon', () => {
    expect(parseInChunks(['data:first\ndata:  second\ndata\n\n'])).toEqual([{ data: 'first\n second\n' }]);
  });

  it('ignores comments, unknown fields and blank lines without data', () => {
    const events = parseInChunks([': keep-alive\n\nid: 7\nretry: 100\nevent: x\n\ndata: ok\nfoo: bar\n\n']);
    expect(events).toEqual([{ data: 'ok' }]);
  });

  it('forgets the event type of an event without data', () => {
    expect(parseInChunks(['event: lonely\n\ndata: x\n\n'])).toEqual([{ data: 'x' }]);
  });

  it('accepts \\r\\n and \\r line endings, even with \\r\\n split across chunks', () => {
    expect(parseInChunks(['data: a\r\n\r\ndata: b\r\rdata: c\n\n'])).toEqual([{ data: 'a' }, { data: 'b' }, { data: 'c' }]);
    expect(parseInChunks(['data: a\r', '\n\r', '\ndata: b\r', '\r'])).toEqual([{ data: 'a' }, { data: 'b' }]);
  });

  it('strips a byte order mark at the start of the stream only', () => {
    expect(parseInChunks(['\uFEFFdata: x\n\n'])).toEqual([{ data: 'x' }]);
    expect(parseInChunks([Buffer.from([0xef, 0xbb]), Buffer.from([0xbf, 0x64]), 'ata: y\n\n'])).toEqual([{ data: 'y' }]);
  });

  it('delivers a last event without its blank line when the stream ends', () => {
    expect(parseInChunks(['data: [DONE]'])).toEqual([{ data: '[DONE]' }]);
    expect(parseInChunks(['data: [DONE]\n'])).toEqual([{ data: '[DONE]' }]);
  });

  it('gives the same events however the bytes are split, multi-byte characters included', () => {
    const body = Buffer.from(
      'event: delta\r\ndata: {"v": "héllo 世界 🎉"}\r\n\r\n: ping\n\ndata: line one\ndata: line two 😀\r\rdata: [DONE]\n\n',
    );
    const expected = parseInChunks([body]);
    expect(expected).toEqual([{ event: 'delta', data: '{"v": "héllo 世界 🎉"}' }, { data: 'line one\nline two 😀' }, { data: '[DONE]' }]);
    for (let cut = 0; cut <= body.length; cut += 1) {
      expect(parseInChunks([body.subarray(0, cut), body.subarray(cut)])).toEqual(expected);
    }
    const byteByByte = [...body].map((byte) => Buffer.from([byte]));
    expect(parseInChunks(byteByByte)).toEqual(expected);
  });

  it('reads a long line sent in many small chunks in linear time', () => {
    const piece = 'x'.repeat(64);
    const readLine = (pieces: number) => {
      const parser = new SseParser();
      parser.push('data: ');
      for (let i = 0; i < pieces; i += 1) parser.push(piece);
      const events = parser.push('\n\n');
      expect(events).toHaveLength(1);
      expect(events[0].data).toHaveLength(64 * pieces);
    };
    // 16x the chunks may take at most 96x the time: re-scanning the buffered line on each push takes 256x. Twice the
    // shared limit: the 512 KB line's allocations put the collector's share of the larger run near 48x on a busy CI.
    // Lines of 32 KB and 512 KB: longer ones make the collector's share of the larger run, not the parser, decide.
    expect(growthRatio(readLine, 500)).toBeLessThanOrEqual(2 * LINEAR_GROWTH_LIMIT);
  });
});
