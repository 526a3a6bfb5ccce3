import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { BUILD_ID, BUILD_NUMBER } from './fake-documents';
import type { AccessTokenRecord } from './fake-tokens';
import { SESSION_COOKIE, type FakeSessionAuth } from './session-auth';

/**
 * A small stub of today's web app on the fake upstream (gateway-live-ui.md §1): the page at `/` and the SPA routes,
 * signed in only with the `__Secure-next-auth.session-token` cookie (a React-Router-like shell whose turbo-stream
 * context carries the account's token and identity), signed out otherwise; its script from `/cdn/assets/` and
 * from the CDN's `/assets/`; and a few account endpoints the app reads (memories). Tests can also place documents
 * (any type, encoding and status) and hold an event stream open, to see what the gateway does with them.
 */
export { SESSION_COOKIE };
export const APP_SCRIPT = 'app-fake01.js';
/** The address and place the page's context gives for whoever fetched it (documentation ranges, a made-up place). */
export const FETCHER_NETWORK = {
  cfConnectingIp: '203.0.113.250',
  cfIpCity: 'Fakeville',
  cfIpLatitude: '48.8566',
  cfIpLongitude: '2.3522',
  userRegion: 'Fake Region',
} as const;
/** The web app's pages: the React Router app renders each of them from the same document. */
const SPA_ROUTE =
  /^\/(?:$|c\/[^/]+(?:\/.*)?$|g\/[^/]+(?:\/.*)?$|gpts(?:\/.*)?$|tasks(?:\/.*)?$|ccc\/[^/]+$|library(?:\/.*)?$|images(?:\/.*)?$|project\/.+$|share\/[^/]+(?:\/.*)?$)/;
const SCRIPT = readFileSync(join(__dirname, 'web-app-assets', 'app.js'), 'utf8');

export interface WebAppRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
}

export interface PlacedDocument {
  status?: number;
  contentType: string;
  body: string | Buffer;
  /** Sent encoded this way whatever the client asked (a server that ignores Accept-Encoding). */
  encoding?: 'gzip' | 'br' | 'deflate';
  headers?: Record<string, string>;
}

/** An event stream the test writes to by hand: shows whether the first event arrives before the end. */
export interface HeldStream {
  /** Resolves when a client has opened the stream. */
  readonly opened: Promise<void>;
  send(text: string): void;
  end(): void;
}

export class FakeWebApp {
  private readonly documents = new Map<string, PlacedDocument>();
  private readonly streams = new Map<string, { hold: HeldStream; attach: (res: ServerResponse) => void }>();
  /** The page answers this status instead (e.g. 503 while "down"); null: normal. */
  pageStatus: number | null = null;
  readonly nonce = randomBytes(12).toString('base64');

  constructor(
    private readonly identify: (authorization: string | undefined) => AccessTokenRecord | null,
    private readonly sessions: FakeSessionAuth,
  ) {}

  /** A SessionToken for this AccessToken's account (session-auth.ts): the page renders signed in with it. */
  createSessionToken(accessToken: string): string {
    return this.sessions.create({ accessToken });
  }

  /** Serves `document` at `path` (exact, without the query) until the fake is reset. */
  place(path: string, document: PlacedDocument): void {
    this.documents.set(path, document);
  }

  /** Stops serving what `place` put at `path`. */
  unplace(path: string): void {
    this.documents.delete(path);
  }

  /** An event stream at `path`, written by the test. */
  holdStream(path: string): HeldStream {
    let response: ServerResponse | null = null;
    const pending: string[] = [];
    let ended = false;
    let opened!: () => void;
    const hold: HeldStream = {
      opened: new Promise<void>((resolve) => (opened = resolve)),
      send: (text) => (response ? response.write(text) : pending.push(text)),
      end: () => {
        ended = true;
        response?.end();
      },
    };
    this.streams.set(path, {
      hold,
      attach: (res) => {
        response = res;
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
        res.flushHeaders();
        for (const text of pending.splice(0)) res.write(text);
        if (ended) res.end();
        opened();
      },
    });
    return hold;
  }

  reset(): void {
    this.documents.clear();
    this.streams.clear();
    this.pageStatus = null;
  }

  /** Answers the request when it is the web app's; false lets the rest of the fake handle it. */
  route(r: WebAppRequest, res: ServerResponse): boolean {
    const stream = this.streams.get(r.path);
    if (stream) {
      stream.attach(res);
      return true;
    }
    const placed = this.documents.get(r.path);
    if (placed) {
      sendDocument(res, r.headers, placed);
      return true;
    }
    if (r.method !== 'GET') return false;
    if (r.path === `/cdn/assets/${APP_SCRIPT}` || r.path === `/assets/${APP_SCRIPT}`) {
      sendDocument(res, r.headers, {
        contentType: 'application/javascript; charset=utf-8',
        body: SCRIPT,
        headers: { 'cache-control': 'public, max-age=31536000, immutable' },
      });
      return true;
    }
    if (r.path.startsWith(`/_next/static/chunks/c/${BUILD_ID}/`)) {
      sendDocument(res, r.headers, {
        contentType: 'application/javascript; charset=utf-8',
        body: '/* an older bundle chunk: the build id is in its path */',
      });
      return true;
    }
    if (SPA_ROUTE.test(r.path)) {
      if (this.pageStatus !== null) {
        sendDocument(res, r.headers, { status: this.pageStatus, contentType: 'text/html', body: '<h1>Service unavailable</h1>' });
        return true;
      }
      const account = this.sessions.accountFor(r.headers.cookie);
      sendDocument(res, r.headers, {
        contentType: 'text/html; charset=utf-8',
        body: this.page(account),
        headers: {
          'content-security-policy': `script-src 'nonce-${this.nonce}' 'self' https://cdn.oaistatic.com; connect-src 'self' https://ab.chatgpt.com wss://ws.chatgpt.com`,
          'set-cookie': `oai-did=${randomBytes(8).toString('hex')}; Path=/; Secure`,
        },
      });
      return true;
    }
    if (r.path === '/backend-api/memories') {
      const account = this.identify(r.headers.authorization);
      if (!account) return false;
      sendDocument(res, r.headers, {
        contentType: 'application/json',
        body: JSON.stringify({ memories: [], memory_max_tokens: 2000, memory_num_tokens: 0 }),
      });
      return true;
    }
    return false;
  }

  /** The React Router v7 page: a context stream enqueued as a turbo-stream-like flat array (never plain JSON). */
  private page(account: AccessTokenRecord | null): string {
    const session = account
      ? [
          'session',
          { _9: 10, _11: 12, _13: 14 },
          'accessToken',
          account.token,
          'user',
          { _15: 16, _17: 18, _19: 20 },
          'expires',
          new Date(account.exp * 1000).toISOString(),
          'id',
          account.userId,
          'email',
          account.email,
          'name',
          account.email.split('@')[0],
        ]
      : ['session', {}];
    const context: unknown[] = [
      { _1: 2 },
      'loaderData',
      { _3: 4 },
      'root',
      { _5: 6, _7: 8 },
      'clientBootstrap',
      { _7: 8 },
      'authStatus',
      account ? 'logged_in' : 'logged_out',
      ...session,
    ];
    if (account) {
      // The session's workspace (gateway-live-ui.md §1: `account{id,planType,structure,…}`), and its team's name.
      const sessionRecord = context[10] as Record<string, number>;
      const entry: Record<string, number> = {};
      sessionRecord[`_${context.length}`] = context.length + 1;
      context.push('account', entry);
      const fields: Array<[string, string]> = [
        ['accountId', account.accountId],
        ['planType', account.plan],
        ['structure', 'personal'],
      ];
      if (account.teamAccountIds.length > 0) fields.push(['teamAccountId', account.teamAccountIds[0]], ['workspaceName', 'Fake Team']);
      for (const [field, value] of fields) {
        entry[`_${context.length}`] = context.length + 1;
        context.push(field, value);
      }
    }
    // Where Cloudflare saw the request come from (gateway-live-ui.md §2): here, whoever fetched the page.
    const bootstrap = context[6] as Record<string, number>;
    for (const [field, value] of Object.entries(FETCHER_NETWORK)) {
      bootstrap[`_${context.length}`] = context.length + 1;
      context.push(field, value);
    }
    const enqueue = JSON.stringify(`${JSON.stringify(context)}\n`);
    const chunk = (name: string) => `https://cdn.oaistatic.com/_next/static/chunks/c/${BUILD_ID}/_/${name}.js`;
    return [
      '<!DOCTYPE html>',
      `<html lang="en-US" data-build="${BUILD_ID}" data-build-number="${BUILD_NUMBER}" data-seq="1" class="light" style="color-scheme:light">`,
      '<head><meta charset="utf-8"><title>ChatGPT</title>',
      // Enough of a look for the screenshots to read like a chat; no fonts or assets from elsewhere.
      '<style>body{margin:0;font:15px/1.5 system-ui,sans-serif;background:#fff;color:#0d0d0d}main{max-width:720px;margin:0 auto;padding:24px}' +
        'h1{font-size:20px;margin:0 0 4px}#profile{color:#5d5d5d;margin:0 0 16px}#conversations{list-style:none;padding:0;margin:0 0 16px;border-left:3px solid #10a37f}' +
        '#conversations li{padding:4px 12px}#composer{display:flex;gap:8px}#prompt{flex:1;min-height:44px;padding:10px;border:1px solid #d9d9e3;border-radius:12px;font:inherit}' +
        '#composer button{padding:0 18px;border:0;border-radius:12px;background:#0d0d0d;color:#fff;font:inherit}#status{color:#8e8ea0;font-size:13px}' +
        '#answer{background:#f7f7f8;border-radius:12px;padding:12px 16px;white-space:pre-wrap}#answer:empty{display:none}</style>',
      `<script src="${chunk('app-3f1c2b9a7d')}" async=""></script>`,
      `<link rel="modulepreload" href="https://cdn.oaistatic.com/assets/${APP_SCRIPT}">`,
      '<link rel="preconnect" href="https://ab.chatgpt.com">',
      `<script nonce="${this.nonce}">window.__reactRouterContext={"basename":"/","future":{},"ssr":true,"isSpaMode":false};` +
        'window.__reactRouterContext.stream=new ReadableStream({start(c){window.__reactRouterContext.streamController=c}});</script>',
      `<script type="module" nonce="${this.nonce}" src="/cdn/assets/${APP_SCRIPT}"></script>`,
      '</head><body>',
      '<main id="root"><h1>ChatGPT</h1><p id="profile"></p><ul id="conversations"></ul>',
      '<form id="composer"><textarea id="prompt" aria-label="Message ChatGPT"></textarea><button type="submit">Send</button></form>',
      '<p id="status">loading</p><div id="answer"></div></main>',
      `<div hidden id="S:0"><script nonce="${this.nonce}">window.__reactRouterContext.streamController.enqueue(${enqueue});window.__reactRouterContext.streamController.close();</script></div>`,
      '</body></html>',
    ].join('\n');
  }
}

/** Sends a document the way a CDN would: compressed as the client accepts (br, then gzip), ranges on binary bodies. */
function sendDocument(res: ServerResponse, requestHeaders: IncomingHttpHeaders, document: PlacedDocument): void {
  let body = Buffer.isBuffer(document.body) ? document.body : Buffer.from(document.body, 'utf8');
  const headers: Record<string, string> = { 'content-type': document.contentType, ...(document.headers ?? {}) };
  const range = /^bytes=(\d+)-(\d*)$/.exec(String(requestHeaders.range ?? ''));
  if (range && Buffer.isBuffer(document.body) && !document.encoding) {
    const start = Number(range[1]);
    const end = Math.min(range[2] ? Number(range[2]) : body.length - 1, body.length - 1);
    res.writeHead(206, {
      ...headers,
      'accept-ranges': 'bytes',
      'content-range': `bytes ${start}-${end}/${body.length}`,
      'content-length': String(end - start + 1),
    });
    res.end(body.subarray(start, end + 1));
    return;
  }
  const accepted = String(requestHeaders['accept-encoding'] ?? '');
  const encoding = document.encoding ?? (/\bbr\b/.test(accepted) ? 'br' : /\bgzip\b/.test(accepted) ? 'gzip' : undefined);
  if (encoding) {
    body = encoding === 'br' ? brotliCompressSync(body) : encoding === 'gzip' ? gzipSync(body) : deflateSync(body);
    headers['content-encoding'] = encoding;
    headers.vary = 'Accept-Encoding';
  }
  if (Buffer.isBuffer(document.body)) headers['accept-ranges'] = 'bytes';
  res.writeHead(document.status ?? 200, { ...headers, 'content-length': String(body.length) });
  res.end(body);
}
