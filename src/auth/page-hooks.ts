import type { Request, Response } from 'express';
import type { BrowserSession } from './browser-session';

/**
 * The two places where `GET /` hands over to the gateway (GatewayModule provides them; AuthModule finds
 * them at request time, so neither module imports the other's internals). Without a provider, AuthModule
 * answers with its own pages.
 */

/** The chat UI for a signed-in browser: the live shell, rewritten for this session. */
export abstract class ChatPageRenderer {
  abstract render(session: BrowserSession, request: Request, response: Response): Promise<void>;
}

/** The logged-out home when `ENABLE_HOMEPAGE=true`: the upstream's own home page through the proxy. */
export abstract class HomePageRenderer {
  abstract render(request: Request, response: Response): Promise<void>;
}
