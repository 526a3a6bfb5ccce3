import { OpenStreams, ShutdownEndable } from './open-streams.registry';

describe('OpenStreams', () => {
  const stream = (): ShutdownEndable & { ended: number } => {
    const s = { ended: 0, endForShutdown: async () => void s.ended++ };
    return s;
  };

  it('counts registered streams and forgets released ones (releasing twice is harmless)', () => {
    const registry = new OpenStreams();
    const release = registry.register(stream());
    registry.register(stream());
    expect(registry.size).toBe(2);
    release();
    release();
    expect(registry.size).toBe(1);
  });

  it('reports idle at once when nothing is open, and as soon as the last stream is released', async () => {
    const registry = new OpenStreams();
    await expect(registry.whenIdle(1)).resolves.toBe(true);
    const release = registry.register(stream());
    const idle = registry.whenIdle(60_000);
    release();
    await expect(idle).resolves.toBe(true);
  });

  it('gives up waiting after the timeout, and then ends the streams still open', async () => {
    jest.useFakeTimers();
    try {
      const registry = new OpenStreams();
      const open = stream();
      registry.register(open);
      const idle = registry.whenIdle(30_000);
      jest.advanceTimersByTime(30_000);
      await expect(idle).resolves.toBe(false);
      await expect(registry.endAll()).resolves.toBe(1);
      expect(open.ended).toBe(1);
    } finally {
      jest.useRealTimers();
    }
  });

  it('ends what is left when the app closes without a drain', async () => {
    const registry = new OpenStreams();
    const open = stream();
    registry.register(open);
    await registry.beforeApplicationShutdown();
    expect(open.ended).toBe(1);
  });
});
