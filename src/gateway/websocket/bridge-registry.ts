import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { BrowserAccount, BrowserSession } from '../../auth/browser-session';
import { AppConfig } from '../../config/app-config';
import { PoolReadModel } from '../../token-pool/pool-read-model';
import { GatewayIdentity } from '../gateway-identity';

/**
 * How often open bridges are checked: does their session still sign in, is their pool account still in service. A
 * session ended on this instance closes its bridges at once; one ended on another instance (the shared store has no
 * notifications), or an account taken out of service, within this.
 */
export const BRIDGE_RECHECK_MS = 30_000;

/** Why a bridge is closed: the browser may not use the account any more. */
export type BridgeEnd = 'session ended' | 'account out of service';

interface Bridge {
  /** The pool account it was opened as (a seed's); none for an owner's own account. */
  poolAccountId?: string;
  close: (why: BridgeEnd) => void;
}

/**
 * The open WebSocket bridges by browser session, so that none outlives its session or its account: signed out,
 * expired, its seed removed, or the pool account it runs as disabled or removed, a bridge is closed and relays nothing
 * more as the account.
 */
@Injectable()
export class BridgeRegistry implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('GatewayWebSocket');
  private readonly bySession = new Map<string, { session: BrowserSession; bridges: Set<Bridge> }>();
  private recheckTimer: NodeJS.Timeout | undefined;
  private rechecking = false;

  constructor(
    private readonly config: AppConfig,
    private readonly identity: GatewayIdentity,
    private readonly pool: PoolReadModel,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.enableGateway) this.identity.onSessionEnded((sessionId) => this.endSession(sessionId));
  }

  onApplicationShutdown(): void {
    this.stopRechecking();
  }

  /**
   * Registers a bridge of `session` opened as `account`, closed by `close` when the session ends or the account leaves
   * service; the returned function forgets it.
   */
  add(session: BrowserSession, account: Pick<BrowserAccount, 'poolAccountId'>, close: (why: BridgeEnd) => void): () => void {
    const entry = this.bySession.get(session.id) ?? { session, bridges: new Set<Bridge>() };
    const bridge: Bridge = { poolAccountId: account.poolAccountId, close };
    entry.bridges.add(bridge);
    this.bySession.set(session.id, entry);
    this.recheckTimer ??= setInterval(() => void this.recheck(), BRIDGE_RECHECK_MS).unref();
    return () => this.forget(session.id, bridge);
  }

  /**
   * Closes the bridges of every session that no longer signs in, and every bridge whose pool account has left service.
   * Each session and each account is read once from the stores, nothing is leased; what cannot be checked now stays open.
   */
  async recheck(): Promise<void> {
    if (this.rechecking) return;
    this.rechecking = true;
    try {
      const serving = new Map<string, Promise<boolean>>();
      const accountServes = (id: string) => {
        let answer = serving.get(id);
        if (!answer) serving.set(id, (answer = this.unlessUncheckable(this.pool.accountInService(id), 'the account')));
        return answer;
      };
      for (const { session, bridges } of [...this.bySession.values()]) {
        if (!(await this.unlessUncheckable(this.identity.stillSignedIn(session), 'the session'))) {
          this.endSession(session.id);
          continue;
        }
        for (const bridge of [...bridges]) {
          if (bridge.poolAccountId && !(await accountServes(bridge.poolAccountId))) {
            this.forget(session.id, bridge);
            bridge.close('account out of service');
          }
        }
      }
    } finally {
      this.rechecking = false;
    }
  }

  /** A check that fails (the store) says nothing either way: the bridge stays. */
  private unlessUncheckable(check: Promise<boolean>, what: string): Promise<boolean> {
    return check.catch((error: Error) => {
      this.logger.warn(`could not check ${what} of an open bridge: ${error.message}`);
      return true;
    });
  }

  private forget(sessionId: string, bridge: Bridge): void {
    const entry = this.bySession.get(sessionId);
    if (!entry?.bridges.delete(bridge)) return;
    if (entry.bridges.size === 0) this.bySession.delete(sessionId);
    if (this.bySession.size === 0) this.stopRechecking();
  }

  private endSession(sessionId: string): void {
    const entry = this.bySession.get(sessionId);
    if (!entry) return;
    this.bySession.delete(sessionId);
    for (const bridge of entry.bridges) bridge.close('session ended');
    if (this.bySession.size === 0) this.stopRechecking();
  }

  private stopRechecking(): void {
    clearInterval(this.recheckTimer);
    this.recheckTimer = undefined;
  }
}
