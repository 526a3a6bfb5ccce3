import type { PlanTier } from '../../src/common/vocabulary/plan-tier';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import type { NextFunction, Request, Response } from 'express';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configureApp } from '../../src/common/http/express-app';
import { AppModule } from '../../src/app.module';
import { loadConfig } from '../../src/config/load-config';
import { BrowserSessions, type BrowserUserKind } from '../../src/auth/browser-session';
import { GatewayIdentity } from '../../src/gateway/gateway-identity';
import { ShellService } from '../../src/gateway/shell/shell.service';
import { TestBrowserSessions, TestBrowserSessionsModule } from '../../src/gateway/testing/test-browser-sessions';
import request from 'supertest';
import { FakeUpstream } from '../fake-upstream/fake-upstream';
import { SignedInBrowser, signInThroughForm } from './browser-sign-in';
import { Stack, startStack } from './stack';

/** A host the gateway proxies to (CDN, files, statsig, …): records what it gets, answers what the test says. */
export interface RecordingHost {
  url: string;
  requests: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }>;
  /** `cut`: the body stops short of its Content-Length and the connection is closed, as a host that fails mid-answer. */
  answer: (request: { method: string; url: string }) => {
    status?: number;
    headers?: Record<string, string>;
    body?: string | Buffer;
    cut?: boolean;
  };
  close(): Promise<void>;
}

export async function recordingHost(): Promise<RecordingHost> {
  const host: RecordingHost = {
    url: '',
    requests: [],
    answer: () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' }),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      host.requests.push({
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const answer = host.answer({ method: req.method ?? 'GET', url: req.url ?? '/' });
      const body = answer.body ?? '';
      if (answer.cut) {
        res.writeHead(answer.status ?? 200, { ...answer.headers, 'content-length': String(Buffer.byteLength(body) + 1024) });
        res.write(body, () => res.destroy());
        return;
      }
      res.writeHead(answer.status ?? 200, answer.headers ?? {});
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  host.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return host;
}

export interface GatewayStack {
  fake: FakeUpstream;
  app: NestExpressApplication;
  url: string;
  sessions: TestBrowserSessions;
  /** Signs a browser in as this fake account; the cookie and the stand-in token it would hold. */
  signIn(
    kind: BrowserUserKind,
    account: { accessToken: string; email: string; userId: string; sessionToken?: string; planTier?: PlanTier },
  ): { cookie: string; standIn: string; sessionId: string };
  close(): Promise<void>;
}

/**
 * The app with `ENABLE_GATEWAY=true` against a fake upstream, with test browser sessions instead of the sign-in
 * pages, and the chat page (`ShellService.render`) at `/` and `/c/:id` as the sign-in module mounts it.
 */
export async function startGateway(options: { env?: Record<string, string>; fake?: FakeUpstream } = {}): Promise<GatewayStack> {
  const fake = options.fake ?? (await FakeUpstream.start());
  const dataDir = mkdtempSync(join(tmpdir(), 'flowgpt-gateway-'));
  const env = {
    CHATGPT_BASE_URL: fake.url,
    AUTH_BASE_URL: fake.url,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'error',
    POW_WORKERS: '1',
    ENABLE_GATEWAY: 'true',
    ...options.env,
  };
  // Every `BrowserSessions` the app has (AuthModule's, and the testing module's for when it has none) is this one.
  const sessions = new TestBrowserSessions();
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(loadConfig(env)), TestBrowserSessionsModule] })
    .overrideProvider(BrowserSessions)
    .useValue(sessions)
    .compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ bodyParser: false, logger: ['error'] });
  configureApp(app);
  const shell = app.get(ShellService);
  const identity = app.get(GatewayIdentity);
  // What the sign-in module answers: the web app's session, with the stand-in as its access token.
  app.use('/api/auth/session', (request: Request, response: Response, next: NextFunction) => {
    identity
      .fromCookieOf(request)
      .then((session) =>
        response.json(
          session
            ? {
                user: { id: 'user-flowgpt' },
                expires: new Date(session.expiresAt).toISOString(),
                accessToken: session.standInToken,
                authProvider: 'openai',
              }
            : {},
        ),
      )
      .catch(next);
  });
  app.use((request: Request, response: Response, next: NextFunction) => {
    if (request.method !== 'GET' || !(request.path === '/' || request.path.startsWith('/c/'))) return next();
    identity
      .fromCookieOf(request)
      .then((session) => (session ? shell.render(request, response, session) : void response.status(401).send('sign in')))
      .catch(next);
  });
  await app.listen(0, '127.0.0.1');
  return {
    fake,
    app,
    url: (await app.getUrl()).replace('[::1]', '127.0.0.1'),
    sessions,
    signIn: (kind, account) => {
      const name = account.email.split('@')[0];
      const { cookie, session } = sessions.signIn(kind, {
        accessToken: account.accessToken,
        sessionToken: account.sessionToken,
        ...(account.planTier ? { planTier: account.planTier } : {}),
        privateIdentifiers: [account.email, name, account.userId],
      });
      return { cookie: `flowgpt-session=${cookie}`, standIn: session.standInToken, sessionId: session.id };
    },
    close: async () => {
      await app.close().catch(() => undefined);
      if (!options.fake) await fake.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const GATEWAY_ADMIN_KEY = 'gateway-admin-key-for-tests';

/** The whole app with the gateway on and the real sign-in (AuthModule's `BrowserSessions`), as a person uses it. */
export interface SignedInGatewayStack extends Stack {
  /** Uploads pool accounts through the admin API. */
  upload(tokens: string[]): Promise<void>;
  /** Signs a browser in through the form with this AccessToken, RefreshToken or SeedToken. */
  signIn(token: string): Promise<SignedInBrowser>;
}

export async function startSignedInGateway(
  options: { env?: Record<string, string>; fake?: FakeUpstream } = {},
): Promise<SignedInGatewayStack> {
  const fake = options.fake ?? (await FakeUpstream.start());
  const stack = await startStack({
    fakeUpstream: fake,
    env: { ENABLE_GATEWAY: 'true', ADMIN_KEY: GATEWAY_ADMIN_KEY, CDN_BASE_URL: fake.url, ...options.env },
  });
  return Object.assign(stack, {
    upload: async (tokens: string[]) => {
      await request(stack.url).post('/admin/api/tokens').set('Authorization', `Bearer ${GATEWAY_ADMIN_KEY}`).send({ tokens }).expect(200);
    },
    signIn: (token: string) => signInThroughForm(stack.url, token),
    close: async () => {
      await stack.app.close().catch(() => undefined);
      if (!options.fake) await fake.close();
      rmSync(stack.dataDir, { recursive: true, force: true });
    },
  });
}

/** The body the web app posts to /backend-api/conversation: one user message, optionally continuing a conversation. */
export function conversationBody(text: string, conversationId?: string): Record<string, unknown> {
  return {
    action: 'next',
    messages: [{ id: 'aaaaaaaa-0000-4000-8000-000000000001', author: { role: 'user' }, content: { content_type: 'text', parts: [text] } }],
    parent_message_id: 'aaaaaaaa-0000-4000-8000-000000000000',
    model: 'auto',
    ...(conversationId ? { conversation_id: conversationId } : {}),
  };
}
