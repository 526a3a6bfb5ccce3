import { OpenStreams, ShutdownEndable } from './open-streams.registry';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InFlightRequests } from './in-flight-requests';

describe('OpenStreams', () => {
  const stream = (): ShutdownEndable & { ended: number } => {
    const s = { ended: 0, endForShutdown: async () => void s.ended++ };
    return s;
  };

  it('counts registered streams and forgets released ones (releasing twice is harmless)', () => {
    const registry = new OpenStreams(new InFlightRequests());
    const release = registry.register(stream());
    registry.register(stream());
    expect(registry.size).toBe(2);
    release();
    release();
    expect(registry.size).toBe(1);
  });

  it('ends the streams still open, and counts them', async () => {
    const registry = new OpenStreams(new InFlightRequests());
    const open = stream();
    registry.register(open);
    registry.register(stream())();
    await expect(registry.endAll()).resolves.toBe(1);
    expect(open.ended).toBe(1);
  });

  it('ends what is left when the app closes without a drain', async () => {
    const registry = new OpenStreams(new InFlightRequests());
    const open = stream();
    registry.register(open);
    await registry.beforeApplicationShutdown();
    expect(open.ended).toBe(1);
  });

  it("excuses a recoverable stream's response from the wait, and ends it apart from the others", async () => {
    const inFlight = new InFlightRequests();
    const registry = new OpenStreams(inFlight);
    const response = new EventEmitter() as unknown as ServerResponse;
    inFlight.track({} as IncomingMessage, response);
    const idle = inFlight.whenIdle(60_000);
    const waited = stream();
    const recoverable = stream();
    registry.register(waited);
    registry.registerRecoverable(response, recoverable);
    await expect(idle).resolves.toBe(true);
    expect({ waited: registry.size, recoverable: registry.recoverableSize }).toEqual({ waited: 1, recoverable: 1 });
    await expect(registry.endRecoverable()).resolves.toBe(1);
    expect({ waited: waited.ended, recoverable: recoverable.ended }).toEqual({ waited: 0, recoverable: 1 });
  });
});
