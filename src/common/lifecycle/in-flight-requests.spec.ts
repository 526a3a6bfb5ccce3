import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InFlightRequests } from './in-flight-requests';

describe('InFlightRequests', () => {
  const response = (headersSent = false) => Object.assign(new EventEmitter(), { headersSent }) as unknown as ServerResponse;
  const request = {} as IncomingMessage;

  it('counts the responses not finished, and lists those whose answer has not started', () => {
    const requests = new InFlightRequests();
    const waiting = response();
    const streaming = response(true);
    requests.track(request, waiting);
    requests.track(request, streaming);
    expect(requests.size).toBe(2);
    expect(requests.unstarted()).toEqual([waiting]);
    streaming.emit('close');
    expect(requests.size).toBe(1);
  });

  it('reports idle at once when nothing is in flight, and as soon as the last response closes', async () => {
    const requests = new InFlightRequests();
    await expect(requests.whenIdle(1)).resolves.toBe(true);
    const open = response();
    requests.track(request, open);
    const idle = requests.whenIdle(60_000);
    open.emit('close');
    await expect(idle).resolves.toBe(true);
  });

  it('gives up waiting after the timeout', async () => {
    jest.useFakeTimers();
    try {
      const requests = new InFlightRequests();
      requests.track(request, response());
      const idle = requests.whenIdle(30_000);
      jest.advanceTimersByTime(30_000);
      await expect(idle).resolves.toBe(false);
    } finally {
      jest.useRealTimers();
    }
  });
});
