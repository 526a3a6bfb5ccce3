import type { BrowserSession } from '../../auth/browser-session';
import type { AppConfig } from '../../config/app-config';
import type { PoolReadModel } from '../../token-pool/pool-read-model';
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

/** The pool as the registry reads it: accounts in service until taken out. */
function poolDouble() {
  const out = new Set<string>();
  let failing = false;
  const accountInService = jest.fn(async (id: string) => {
    if (failing) throw new Error('store unavailable');
    return !out.has(id);
  });
  return {
    pool: { accountInService } as unknown as PoolReadModel,
    accountInService,
    takeOut: (id: string) => out.add(id),
    failChecks: (value: boolean) => (failing = value),
  };
}

/** An owner's own account: no pool account to check. */
const OWN = {};
const onPool = (poolAccountId: string) => ({ poolAccountId });

describe('BridgeRegistry', () => {
  let sessions: ReturnType<typeof identityDouble>;
  let accounts: ReturnType<typeof poolDouble>;
  let registry: BridgeRegistry;

  beforeEach(() => {
    jest.useFakeTimers();
    sessions = identityDouble();
    accounts = poolDouble();
    registry = new BridgeRegistry({ enableGateway: true } as AppConfig, sessions.identity, accounts.pool);
    registry.onApplicationBootstrap();
  });
  afterEach(() => {
    registry.onApplicationShutdown();
    jest.useRealTimers();
  });

  it("closes every bridge of a session ended on this instance at once, and no other session's", () => {
    const [first, second, other] = [jest.fn(), jest.fn(), jest.fn()];
    registry.add(session('a'), OWN, first);
    registry.add(session('a'), OWN, second);
    registry.add(session('b'), OWN, other);
    sessions.endHere('a');
    expect([first.mock.calls.length, second.mock.calls.length, other.mock.calls.length]).toEqual([1, 1, 0]);
  });

  it('closes the bridges of a session ended elsewhere at the next check, on the timer', async () => {
    const close = jest.fn();
    const stays = jest.fn();
    registry.add(session('a'), OWN, close);
    registry.add(session('b'), OWN, stays);
    sessions.endElsewhere('a');
    await jest.advanceTimersByTimeAsync(BRIDGE_RECHECK_MS - 1);
    expect(close).not.toHaveBeenCalled();
    await jest.advanceTimersByTimeAsync(1);
    expect(close).toHaveBeenCalledTimes(1);
    expect(stays).not.toHaveBeenCalled();
  });

  it('keeps the bridges of a session it cannot check now', async () => {
    const close = jest.fn();
    registry.add(session('a'), OWN, close);
    sessions.failChecks(true);
    await jest.advanceTimersByTimeAsync(BRIDGE_RECHECK_MS);
    expect(close).not.toHaveBeenCalled();
    sessions.failChecks(false);
    sessions.endElsewhere('a');
    await jest.advanceTimersByTimeAsync(BRIDGE_RECHECK_MS);
    expect(close).toHaveBeenCalledTimes(1);
  });

  it('closes the bridges opened as an account that has left service at the next check, and only those', async () => {
    const [onDisabled, onDisabledToo, onLive, ownersOwn] = [jest.fn(), jest.fn(), jest.fn(), jest.fn()];
    registry.add(session('a'), onPool('disabled'), onDisabledToo);
    registry.add(session('a'), onPool('live'), onLive);
    registry.add(session('b'), onPool('disabled'), onDisabled);
    registry.add(session('c'), OWN, ownersOwn);
    accounts.takeOut('disabled');
    await jest.advanceTimersByTimeAsync(BRIDGE_RECHECK_MS);
    expect(onDisabled).toHaveBeenCalledWith('account out of service');
    expect(onDisabledToo).toHaveBeenCalledWith('account out of service');
    expect([onLive, ownersOwn].map((close) => close.mock.calls.length)).toEqual([0, 0]);
    // Read once for all its bridges; an owner's own account is not the pool's.
    expect(accounts.accountInService.mock.calls.map(([id]) => id).sort()).toEqual(['disabled', 'live']);
    await jest.advanceTimersByTimeAsync(BRIDGE_RECHECK_MS);
    expect(onDisabled).toHaveBeenCalledTimes(1);
    sessions.endHere('a');
    expect(onDisabledToo).toHaveBeenCalledTimes(1);
    expect(onLive).toHaveBeenCalledWith('session ended');
  });

  it('keeps the bridges on an account it cannot check now', async () => {
    const close = jest.fn();
    registry.add(session('a'), onPool('x'), close);
    accounts.takeOut('x');
    accounts.failChecks(true);
    await jest.advanceTimersByTimeAsync(BRIDGE_RECHECK_MS);
    expect(close).not.toHaveBeenCalled();
    accounts.failChecks(false);
    await jest.advanceTimersByTimeAsync(BRIDGE_RECHECK_MS);
    expect(close).toHaveBeenCalledTimes(1);
  });

  it('forgets a bridge that has closed, and checks nothing once none is open', async () => {
    const close = jest.fn();
    const forget = registry.add(session('a'), OWN, close);
    forget();
    sessions.endHere('a');
    await jest.advanceTimersByTimeAsync(BRIDGE_RECHECK_MS * 3);
    expect(close).not.toHaveBeenCalled();
    expect(sessions.stillSignedIn).not.toHaveBeenCalled();
    expect(accounts.accountInService).not.toHaveBeenCalled();
    expect(jest.getTimerCount()).toBe(0);
  });
});
