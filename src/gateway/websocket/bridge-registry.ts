import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { BrowserSession } from '../../auth/browser-session';
import { AppConfig } from '../../config/app-config';
import { GatewayIdentity } from '../gateway-identity';

/**
 * How often the sessions of open bridges are asked whether they still sign in. A session ended on this instance
 * closes its bridges at once; one ended on another instance (the shared store has no notifications) within this.
 */
export const BRIDGE_RECHECK_MS = 30_000;

/**
 * The open WebSocket bridges by browser session, so that none outlives its session: signed out, expired, or its seed
 * removed, a session's bridges are closed and relay nothing more as the account.
 */
@Injectable()
export class BridgeRegistry implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('GatewayWebSocket');
  private readonly bySession = new Map<string, { session: BrowserSession; closers: Set<() => void> }>();
  private recheckTimer: NodeJS.Timeout | undefined;
  private rechecking = false;

  constructor(
    private readonly config: AppConfig,
    private readonly identity: GatewayIdentity,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.enableGateway) this.identity.onSessionEnded((sessionId) => this.endSession(sessionId));
  }

  onApplicationShutdown(): void {
    this.stopRechecking();
  }

  /** Registers a bridge of `session`, closed by `close` when the session ends; the returned function forgets it. */
  add(session: BrowserSession, close: () => void): () => void {
    const entry = this.bySession.get(session.id) ?? { session, closers: new Set<() => void>() };
    entry.closers.add(close);
    this.bySession.set(session.id, entry);
    this.recheckTimer ??= setInterval(() => void this.recheck(), BRIDGE_RECHECK_MS).unref();
    return () => {
      entry.closers.delete(close);
      if (entry.closers.size === 0 && this.bySession.get(session.id) === entry) this.bySession.delete(session.id);
      if (this.bySession.size === 0) this.stopRechecking();
    };
  }

  /** Closes the bridges of every session that no longer signs in; a session that cannot be checked now keeps its own. */
  async recheck(): Promise<void> {
    if (this.rechecking) return;
    this.rechecking = true;
    try {
      for (const { session } of [...this.bySession.values()]) {
        const signedIn = await this.identity.stillSignedIn(session).catch((error: Error) => {
          this.logger.warn(`could not check a bridged session: ${error.message}`);
          return true;
        });
        if (!signedIn) this.endSession(session.id);
      }
    } finally {
      this.rechecking = false;
    }
  }

  private endSession(sessionId: string): void {
    const entry = this.bySession.get(sessionId);
    if (!entry) return;
    this.bySession.delete(sessionId);
    for (const close of entry.closers) close();
    if (this.bySession.size === 0) this.stopRechecking();
  }

  private stopRechecking(): void {
    clearInterval(this.recheckTimer);
    this.recheckTimer = undefined;
  }
}
