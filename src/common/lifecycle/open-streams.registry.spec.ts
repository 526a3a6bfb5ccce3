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

  it('ends the streams still open, and counts them', async () => {
    const registry = new OpenStreams();
    const open = stream();
    registry.register(open);
    registry.register(stream())();
    await expect(registry.endAll()).resolves.toBe(1);
    expect(open.ended).toBe(1);
  });

  it('ends what is left when the app closes without a drain', async () => {
    const registry = new OpenStreams();
    const open = stream();
    registry.register(open);
    await registry.beforeApplicationShutdown();
    expect(open.ended).toBe(1);
  });
});
