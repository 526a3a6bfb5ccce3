import { Injectable, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { BrowserAccount, BrowserSession } from '../../auth/browser-session';
import { UpstreamError } from '../../common/errors/upstream-error';
import type { KeyValueStore } from '../../common/shared-state/key-value.store';
import { SharedState } from '../../common/shared-state/shared-state';
import { UpstreamClient } from '../../upstream/upstream.client';
import { GatewayCaller, GatewayIdentity } from '../gateway-identity';
import { AccountIdentifiers } from '../seed/account-identifiers.service';
import { PublicOriginResolver } from '../public-origin';
import { accountSecretsRewriter, identifierPairs } from '../rewriting/account-secrets';
import { TextRewriter } from '../rewriting/text-rewriter';
import { encodedPath, normalisedPath, seedMayOpenPage } from '../seed/seed-rules';
import { SeedRegistry } from '../../token-pool/seed-registry';
import { withContextFields, withVisitorNetworkFacts } from './network-facts';
import { PublicOrigin, UpstreamHosts } from '../upstream-hosts';
import type { BrowserFingerprint } from '../../upstream/fingerprint';
import type { PlanTier } from '../../common/vocabulary/plan-tier';

/** The upstream renders the page signed in only for this cookie (gateway-live-ui.md §1). */
export const UPSTREAM_SESSION_COOKIE = '__Secure-next-auth.session-token';
/** Where a captured signed-in page held its account's token; each rendering puts the session's stand-in there. */
const TOKEN_MARKER = '__FLOWGPT_STAND_IN_TOKEN__';
const SHELL_TIMEOUT_MS = 15_000;
/** A conversation's page: `/c/<id>`, or `/g/<gizmo or project>/c/<id>`, and anything under it. */
const CONVERSATION_PAGE = /^\/(?:g\/[^/]+\/)?c\/([^/]+)/i;
/**
 * The plan fields of a page's context (`session.account.planType`, gateway-live-ui.md §1) as a seed's page says them:
 * the plan of the seed's own pool account when the pool knows it (a page kept from another account says that one's),
 * so that the web app shows a seed of a paid account its paid models from the start.
 */
const PLAN_FIELDS: Readonly<Record<PlanTier, Readonly<Record<string, string>>>> = {
  free: { planType: 'free', plan_type: 'free', subscriptionPlan: 'chatgptfreeplan', subscription_plan: 'chatgptfreeplan' },
  paid: { planType: 'plus', plan_type: 'plus', subscriptionPlan: 'chatgptplusplan', subscription_plan: 'chatgptplusplan' },
};
const SIGNED_IN = 'signed-in';
const SIGNED_OUT = 'signed-out';

/** A page as kept in the store: never with a real token or a private identifier in it. */
interface KeptShell {
  html: string;
  csp?: string;
  build?: string;
  capturedAt: number;
}

type Fetched = { ok: true; html: string; csp?: string; build?: string } | { ok: false; reason: string };

/**
 * The chat UI's page, fetched live from the upstream (`CHATGPT_BASE_URL`) and rewritten per request for this
 * user; we ship no copy of OpenAI's pages. How the page comes to be signed in:
 * - the account has a SessionToken: the page is fetched with it, signed in, and a copy is kept with its token
 *   replaced by a marker and its identifiers by neutral values (a "captured" shell);
 * - otherwise: the signed-out page is fetched (it tells the current build); when a captured shell of the same
 *   build exists it is used with this session's stand-in; if not, the signed-out page is served, and its
 *   `/backend-anon` calls run as the session's account (BackendProxyService);
 * - the upstream unreachable or refusing: the last good shell from the store; none ever: a page that says so.
 * The context is a turbo-stream: exact strings are replaced in it (tokens, identifiers), and only the network facts
 * (the address and place the upstream saw: this server's) are found by reading it (`withVisitorNetworkFacts`).
 */
@Injectable()
export class ShellService {
  private readonly logger = new Logger('GatewayShell');
  private readonly kept: KeyValueStore;
  /** The signed-in home page being kept (one at a time): a page served from the kept one waits for it. */
  private keeping: Promise<void> | undefined;

  constructor(
    private readonly upstream: UpstreamClient,
    private readonly hosts: UpstreamHosts,
    private readonly origins: PublicOriginResolver,
    private readonly identity: GatewayIdentity,
    private readonly identifiers: AccountIdentifiers,
    private readonly seeds: SeedRegistry,
    state: SharedState,
  ) {
    this.kept = state.keyValues('gateway-shell');
  }

  /** Answers `request` with the chat UI for `session` (the sign-in pages' `/` and SPA routes call this). */
  async render(request: Request, response: Response, session: BrowserSession): Promise<void> {
    // The session first: one that has ended leads to the sign-in form, whatever page it asked for.
    const caller = await this.identity.callerOf(session);
    const path = await this.pagePathFor(session, request.originalUrl || '/');
    if (path === null) return void response.redirect(302, '/');
    const origin = this.origins.of(request);
    const page = await this.pageFor(caller, path);
    if (!page.ok) return this.unavailable(response, page.reason);
    const known = withPlanOf(session, caller.account, accountSecretsRewriter(session, caller.account).apply(page.html).text);
    // Any token left is one we did not know of (the upstream renewed the session's): the stand-in takes its place too.
    const withStandIn = withoutTokens(known).split(TOKEN_MARKER).join(session.standInToken);
    this.send(request, response, withStandIn, page.csp, origin);
  }

  /**
   * The page to fetch as the account: the one asked for, but for a shared (seed) user, read as the upstream will read
   * it, and null (to the new-chat page instead) for a conversation page that is not the seed's own, or a page of the
   * account's own things (`seedMayOpenPage`): the upstream renders it for the account, so the seed would see another
   * user's conversation, or the account's library, tasks, projects or GPTs.
   */
  private async pagePathFor(session: BrowserSession, url: string): Promise<string | null> {
    if (session.kind !== 'seed') return url;
    const queryAt = url.indexOf('?');
    const path = normalisedPath(queryAt < 0 ? url : url.slice(0, queryAt));
    if (path === null || !seedMayOpenPage(path)) return null;
    const conversationId = CONVERSATION_PAGE.exec(path)?.[1];
    if (conversationId !== undefined && !(session.seedId && (await this.seeds.ownsConversation(session.seedId, conversationId))))
      return null;
    return encodedPath(path) + (queryAt < 0 ? '' : url.slice(queryAt));
  }

  /**
   * `GET /` without a session when `ENABLE_HOMEPAGE=true`: the upstream's own logged-out home, fetched as the
   * anonymous browser with no cookie, its hosts mapped onto our origin. Nothing of any account is in it, so it is
   * neither kept nor used as a fallback; an upstream that refuses gives the page that says so.
   */
  async renderSignedOut(request: Request, response: Response): Promise<void> {
    const page = await this.fetchPage(this.identity.anonymousFingerprint(), '/');
    if (!page.ok) {
      this.logger.warn(`the upstream home page is unavailable: ${page.reason}`);
      return this.unavailable(response, page.reason);
    }
    this.send(request, response, page.html, page.csp, this.origins.of(request));
  }

  /** The page as this visitor gets it: hosts mapped to our origin, and the network facts theirs, not this server's. */
  private send(request: Request, response: Response, page: string, csp: string | undefined, origin: PublicOrigin): void {
    const hostRewriter = this.hosts.hostRewriter(origin);
    const html = withVisitorNetworkFacts(hostRewriter.apply(page).text, request.ip ?? request.socket.remoteAddress);
    response.status(200);
    response.setHeader('content-type', 'text/html; charset=utf-8');
    response.setHeader('cache-control', 'private, no-store');
    response.setHeader('vary', 'Cookie');
    if (csp) response.setHeader('content-security-policy', hostRewriter.apply(csp).text);
    response.setHeader('content-length', String(Buffer.byteLength(html)));
    response.end(html);
  }

  private unavailable(response: Response, reason: string): void {
    response.status(503).setHeader('cache-control', 'no-store');
    response.render('gateway/unavailable', { layout: false, reason, upstream: new URL(this.hosts.backendBase()).host });
  }

  private async pageFor(
    caller: GatewayCaller,
    path: string,
  ): Promise<{ ok: true; html: string; csp?: string } | { ok: false; reason: string }> {
    const { account } = caller;
    let live: Fetched;
    if (account.sessionToken) {
      live = await this.fetchPage(caller.fingerprint, path, account.sessionToken);
      // Signed in: with the token we hold, or with a newer one the upstream gave the session before our renewal.
      if (live.ok && (live.html.includes(account.accessToken) || holdsToken(live.html))) {
        // Kept to be shown to others (seeds): without this account's profile, whoever's it is (an owner's too), and
        // only the home page, since any other (a conversation's, a project's) is rendered with that page's content.
        // Nor anything of its workspaces (ids, names): another account's seeds are served it. Unread, not kept. Its plan
        // stays; a seed's page says its own account's plan when the pool knows it (`withPlanOf`).
        // Kept after the owner's page is on its way: reading the workspaces and profile must not hold it up.
        if (isHomePage(path) && !this.keeping)
          this.keeping = this.keepSignedIn(caller, live).finally(() => {
            this.keeping = undefined;
          });
        return live;
      }
    } else {
      live = await this.fetchPage(caller.fingerprint, path);
    }
    if (live.ok) {
      await this.keep(SIGNED_OUT, { html: capture(live.html, account), csp: live.csp, build: live.build, capturedAt: Date.now() });
      const captured = await this.readSignedIn();
      if (captured && captured.build !== undefined && captured.build === live.build)
        return { ok: true, html: captured.html, csp: captured.csp };
      return live;
    }
    const fallback = (await this.readSignedIn()) ?? (await this.read(SIGNED_OUT));
    if (fallback) {
      this.logger.warn(`serving the last good shell (from ${new Date(fallback.capturedAt).toISOString()}): ${live.reason}`);
      return { ok: true, html: fallback.html, csp: fallback.csp };
    }
    this.logger.warn(`the chat UI is unavailable: ${live.reason}`);
    return live;
  }

  /**
   * Keeps the account's signed-in home page for others, scrubbed of its profile and workspaces. Either unreadable, it
   * is not kept; the account's own page is served all the same, since keeping it is for others.
   */
  private async keepSignedIn(caller: GatewayCaller, live: { html: string; csp?: string; build?: string }): Promise<void> {
    const { account } = caller;
    try {
      const workspaces = await this.identifiers.workspacesOf(account, caller.fingerprint);
      if (!workspaces) return;
      const profile = await this.identifiers.of(account, caller.fingerprint);
      const anonymous = { ...account, privateIdentifiers: [...account.privateIdentifiers, ...profile, ...workspaces] };
      const html = capture(live.html, anonymous);
      await this.keep(SIGNED_IN, { html, csp: live.csp, build: live.build, capturedAt: Date.now() });
    } catch (error) {
      this.logger.warn(`the signed-in page was not kept: the account's profile is unreadable (${(error as Error).message})`);
    }
  }

  private async fetchPage(fingerprint: BrowserFingerprint, path: string, sessionToken?: string): Promise<Fetched> {
    const base = this.hosts.backendBase();
    try {
      const answer = await this.upstream.request({
        url: base + path,
        identity: { fingerprint },
        headers: {
          accept: 'text/html,application/xhtml+xml',
          'sec-fetch-dest': 'document',
          'sec-fetch-mode': 'navigate',
          'sec-fetch-site': 'none',
          ...(sessionToken ? { cookie: `${UPSTREAM_SESSION_COOKIE}=${sessionToken}` } : {}),
        },
        timeoutMs: SHELL_TIMEOUT_MS,
        step: 'gateway',
      });
      if (answer.headers['cf-mitigated'] === 'challenge')
        return { ok: false, reason: 'the upstream asked for a browser check (Cloudflare challenge)' };
      if (answer.status !== 200) return { ok: false, reason: `the upstream answered HTTP ${answer.status}` };
      if (!/text\/html/i.test(String(answer.headers['content-type'] ?? '')))
        return { ok: false, reason: 'the upstream did not answer with a page' };
      const html = answer.body.toString('utf8');
      const csp = answer.headers['content-security-policy'];
      return { ok: true, html, csp: typeof csp === 'string' ? csp : undefined, build: /<html[^>]*\sdata-build="([^"]+)"/i.exec(html)?.[1] };
    } catch (error) {
      const detail = error instanceof UpstreamError ? error.kind : (error as Error).message;
      return { ok: false, reason: `the upstream could not be reached (${detail})` };
    }
  }

  private async keep(key: string, shell: KeptShell): Promise<void> {
    try {
      await this.kept.set(key, JSON.stringify(shell), Date.now());
    } catch (error) {
      this.logger.warn(`could not keep the shell: ${(error as Error).message}`);
    }
  }

  /** The kept signed-in page, once one being kept in this process is. */
  private async readSignedIn(): Promise<KeptShell | null> {
    await this.keeping;
    return this.read(SIGNED_IN);
  }

  private async read(key: string): Promise<KeptShell | null> {
    try {
      const value = await this.kept.get(key, Date.now());
      return value ? (JSON.parse(value) as KeptShell) : null;
    } catch {
      return null;
    }
  }
}

/** A seed's page with its own pool account's plan, when the pool knows it; any other page as it is. */
function withPlanOf(session: BrowserSession, account: BrowserAccount, html: string): string {
  return session.kind === 'seed' && account.planTier ? withContextFields(html, PLAN_FIELDS[account.planTier]) : html;
}

function isHomePage(url: string): boolean {
  return url.split('?')[0] === '/';
}

/** The page as it may be kept and shown to anyone: every token a marker, the SessionToken and identifiers gone. */
function capture(html: string, account: BrowserAccount): string {
  const pairs: Array<[string, string]> = [[account.accessToken, TOKEN_MARKER]];
  if (account.sessionToken) pairs.push([account.sessionToken, 'flowgpt-redacted']);
  pairs.push(...identifierPairs(account.privateIdentifiers));
  // Nor where the server that fetched it is: each rendering puts the visitor's own address in.
  return withVisitorNetworkFacts(withoutTokens(new TextRewriter(pairs).apply(html).text), undefined);
}

/** A JWT (three parts) or JWE (five) as the upstream's tokens are: a base64url JSON header, `eyJ…`, then dotted parts. */
const TOKEN_SHAPE = /eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){2,4}/g;

/** Whether the page holds a token at all: a page fetched with a SessionToken does only when it is signed in. */
function holdsToken(html: string): boolean {
  TOKEN_SHAPE.lastIndex = 0;
  return TOKEN_SHAPE.test(html);
}

/** Every token-shaped string replaced by the marker: no AccessToken, known or not, leaves in a page. */
function withoutTokens(html: string): string {
  return html.replace(TOKEN_SHAPE, TOKEN_MARKER);
}
