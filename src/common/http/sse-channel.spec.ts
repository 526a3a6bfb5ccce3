import { EventEmitter } from 'node:events';
import type { Response } from 'express';
import { InFlightRequests } from '../lifecycle/in-flight-requests';
import { OpenStreams } from '../lifecycle/open-streams.registry';
import { SseChannel } from './sse-channel';

/** An Express response that records each write, and fills up (write answers false) once told to. */
class RecordingResponse extends EventEmitter {
  writes: string[] = [];
  ended?: string;
  destroyed = false;
  writableEnded = false;
  writableNeedDrain = false;
  full = false;
  status = () => this;
  setHeader = () => this;
  write = (text: string) => {
    this.writes.push(text);
    if (this.full) this.writableNeedDrain = true;
    return !this.full;
  };
  end = (text = '') => {
    this.ended = text;
    this.writableEnded = true;
  };
  /** As a socket cut: `close`, never `finish`. */
  destroy = () => {
    this.destroyed = true;
    this.emit('close');
  };
  drain(): void {
    this.full = false;
    this.writableNeedDrain = false;
    this.emit('drain');
  }
}

const nextTick = () => new Promise<void>((resolve) => process.nextTick(resolve));

function channelOn(response: RecordingResponse): SseChannel {
  return new SseChannel(response as unknown as Response, 60_000);
}

describe('SseChannel', () => {
  it('sends the events written in one tick as one write of the response, in order, on the next tick', async () => {
    const response = new RecordingResponse();
    const channel = channelOn(response);
    await channel.write('data: 1\n\n');
    await channel.write('data: 2\n\n');
    await channel.write('data: 3\n\n');
    expect(response.writes).toEqual([]);
    await nextTick();
    expect(response.writes).toEqual(['data: 1\n\ndata: 2\n\ndata: 3\n\n']);
    await channel.write('data: 4\n\n');
    await nextTick();
    expect(response.writes).toEqual(['data: 1\n\ndata: 2\n\ndata: 3\n\n', 'data: 4\n\n']);
    channel.close();
  });

  it('ends the response with the events still held', async () => {
    const response = new RecordingResponse();
    const channel = channelOn(response);
    await channel.write('data: 1\n\n');
    await channel.write('data: [DONE]\n\n');
    channel.close();
    expect(response.writes).toEqual([]);
    expect(response.ended).toBe('data: 1\n\ndata: [DONE]\n\n');
    await nextTick();
    expect(response.writes).toEqual([]);
  });

  it('sends a long run of text at once, without waiting for the next tick', async () => {
    const response = new RecordingResponse();
    const channel = channelOn(response);
    const event = `data: ${'x'.repeat(1000)}\n\n`;
    for (let k = 0; k < 20; k++) await channel.write(event);
    expect(response.writes.length).toBeGreaterThan(0);
    expect(response.writes.join('').length).toBeGreaterThanOrEqual(16 * 1024);
    await nextTick();
    expect(response.writes.join('')).toBe(event.repeat(20));
    channel.close();
  });

  it('waits for a reader that does not keep up before taking more', async () => {
    const response = new RecordingResponse();
    const channel = channelOn(response);
    response.full = true;
    await channel.write('data: 1\n\n');
    await nextTick();
    expect(response.writableNeedDrain).toBe(true);
    let written = false;
    const next = channel.write('data: 2\n\n').then(() => (written = true));
    await nextTick();
    expect(response.writes).toEqual(['data: 1\n\n', 'data: 2\n\n']);
    expect(written).toBe(false);
    response.drain();
    await next;
    expect(written).toBe(true);
    channel.close();
  });

  it('cuts a stream whose reader never takes the farewell, so that a shutdown does not wait for it for ever', async () => {
    jest.useFakeTimers();
    try {
      const response = new RecordingResponse();
      const shutdown = { openStreams: new OpenStreams(new InFlightRequests()), farewell: () => 'data: [DONE]\n\n' };
      const channel = new SseChannel(response as unknown as Response, 60_000, shutdown);
      // A client that stopped reading (a frozen tab, a client gone without a word): the end is never flushed (no `finish`).
      response.full = true;
      let ended = false;
      const ending = channel.endForShutdown().then(() => (ended = true));
      expect(response.ended).toBe('data: [DONE]\n\n');
      await jest.advanceTimersByTimeAsync(60_000);
      expect(ended).toBe(true);
      expect(response.destroyed).toBe(true);
      await ending;
    } finally {
      jest.useRealTimers();
    }
  });
});
