import type { BrowserSession } from '../../auth/browser-session';
import type { AppConfig } from '../../config/app-config';
import type { GatewayIdentity } from '../gateway-identity';
import { BRIDGE_RECHECK_MS, BridgeRegistry } from './bridge-registry';

const session = (id: string): BrowserSession => ({ id, kind: 'seed', standInToken: `fgst-${id}`, seedId: id, createdAt: 0, expiresAt: 1 });

/** The identity as the registry uses it: sessions that sign in until they are ended, here or elsewhere. */
function identityDouble() {
  const ended = new Set<string>();
  let endedHere: (sessionId: string) => void = () => undefined;
  let failing = false;
  const identity = {
    onSessionEnded: (listener: (sessionId: string) => void) => (endedHere = listener),
    stillSignedIn: jest.fn(async (asked: BrowserSession) => {
      if (failing) throw new Error('store unavailable');
      return !ended.has(asked.id);
    }),
  };
  return {
    identity: identity as unknown as GatewayIdentity,
    stillSignedIn: identity.stillSignedIn,
    endHere: (id: string) => endedHere(id),
    endElsewhere: (id: string) => ended.add(id),
    failChecks: (value: boolean) => (failing = value),
  };
}

describe('BridgeRegistry', () => {
  let sessions: ReturnType<typeof identityDouble>;
  let registry: BridgeRegistry;

  beforeEach(() => {
    jest.useFakeTimers();
    sessions = identityDouble();
    registry = new BridgeRegistry({ enableGateway: true } as AppConfig, sessions.identity);
    registry.onApplicationBootstrap();
  });
  afterEach(() => {
    registry.onApplicationShutdown();
    jest.useRealTimers();
  });

  it("closes every bridge of a session ended on this instance at once, and no other session's", () => {
    const [first, second, other] = [jest.fn(), jest.fn(), jest.fn()];
    registry.add(session('a'), first);
    registry.add(session('a'), second);
    registry.add(session('b'), other);
    sessions.endHere('a');
    expect([first.mock.calls.length, second.mock.calls.length, other.mock.calls.length]).toEqual([1, 1, 0]);
  });

  it('closes the bridges of a session ended elsewhere at the next check, on the timer', async () => {
    const close = jest.fn();
    const stays = jest.fn();
    registry.add(session('a'), close);
    registry.add(session('b'), stays);
    sessions.endElsewhere('a');
    await jest.advanceTimersByTimeAsync(BRIDGE_RECHECK_MS - 1);
    expect(close).not.toHaveBeenCalled();
    await jest.advanceTimersByTimeAsync(1);
    expect(close).toHaveBeenCalledTimes(1);
    expect(stays).not.toHaveBeenCalled();
  });

  it('keeps the bridges of a session it cannot check now', async () => {
    const close = jest.fn();
    registry.add(session('a'), close);
    sessions.failChecks(true);
    await jest.advanceTimersByTimeAsync(BRIDGE_RECHECK_MS);
    expect(close).not.toHaveBeenCalled();
    sessions.failChecks(false);
    sessions.endElsewhere('a');
    await jest.advanceTimersByTimeAsync(BRIDGE_RECHECK_MS);
    expect(close).toHaveBeenCalledTimes(1);
  });

  it('forgets a bridge that has closed, and checks nothing once none is open', async () => {
    const close = jest.fn();
    const forget = registry.add(session('a'), close);
    forget();
    sessions.endHere('a');
    await jest.advanceTimersByTimeAsync(BRIDGE_RECHECK_MS * 3);
    expect(close).not.toHaveBeenCalled();
    expect(sessions.stillSignedIn).not.toHaveBeenCalled();
    expect(jest.getTimerCount()).toBe(0);
  });
});
