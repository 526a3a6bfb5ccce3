import type { NestExpressApplication } from '@nestjs/platform-express';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { Test } from '@nestjs/testing';
import { createApp, logLevelsFrom } from '../../src/app.factory';
import { configureApp } from '../../src/common/http/express-app';
import { AppModule } from '../../src/app.module';
import { loadConfig } from '../../src/config/load-config';
import { Clock } from '../../src/common/vocabulary/clock';
import { FakeUpstream, FakeUpstreamOptions } from '../fake-upstream/fake-upstream';

export interface Stack {
  fake: FakeUpstream;
  app: NestExpressApplication;
  /** e.g. http://127.0.0.1:43210 */
  url: string;
  dataDir: string;
  /** The official SDK pointed at our `/v1`. */
  openai(apiKey: string, options?: { baseURL?: string; defaultHeaders?: Record<string, string> }): OpenAI;
  /** Stops the app (the data directory and the fake stay, for restart tests). */
  stopApp(): Promise<void>;
  /** Boots a fresh app on the same data directory and fake upstream. */
  restartApp(env?: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

/**
 * The FlowGPT app on a free port, talking to a fresh fake upstream, with its own data directory.
 * `env` adds to (or overrides) the test defaults.
 */
export async function startStack(
  options: { env?: Record<string, string>; fake?: FakeUpstreamOptions; fakeUpstream?: FakeUpstream; clock?: Clock } = {},
): Promise<Stack> {
  const fake = options.fakeUpstream ?? (await FakeUpstream.start(options.fake));
  const dataDir = mkdtempSync(join(tmpdir(), 'flowgpt-test-'));
  const baseEnv = {
    CHATGPT_BASE_URL: fake.url,
    AUTH_BASE_URL: fake.url,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'error',
    RETRY_TIMES: '3',
    POW_WORKERS: '2',
    // Only with REDIS_URL: a busy machine can take longer than the default 2 s to answer; outage tests set their own.
    REDIS_COMMAND_TIMEOUT_MS: '20000',
    ...options.env,
  };
  let app = await boot(baseEnv, options.clock);
  const stack: Stack = {
    fake,
    app,
    url: await urlOf(app),
    dataDir,
    openai: (apiKey, sdkOptions = {}) =>
      new OpenAI({
        apiKey,
        baseURL: sdkOptions.baseURL ?? `${stack.url}/v1`,
        maxRetries: 0,
        timeout: 20_000,
        defaultHeaders: sdkOptions.defaultHeaders,
      }),
    stopApp: async () => {
      await stack.app.close();
    },
    restartApp: async (env = {}) => {
      app = await boot({ ...baseEnv, ...env }, options.clock);
      stack.app = app;
      stack.url = await urlOf(app);
    },
    close: async () => {
      await stack.app.close().catch(() => undefined);
      if (!options.fakeUpstream) await fake.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return stack;
}

/** `clock`, when given, replaces the app's time source (e.g. a FakeClock, so cool-downs pass without waiting). */
async function boot(env: Record<string, string>, clock?: Clock): Promise<NestExpressApplication> {
  const app = clock ? await createAppWithClock(env, clock) : await createApp(env);
  await app.listen(0, '127.0.0.1');
  return app;
}

async function createAppWithClock(env: Record<string, string>, clock: Clock): Promise<NestExpressApplication> {
  const config = loadConfig(env);
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config)] })
    .overrideProvider(Clock)
    .useValue(clock)
    .compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({
    bodyParser: false,
    abortOnError: false,
    logger: logLevelsFrom(config.logLevel),
  });
  return configureApp(app);
}

async function urlOf(app: NestExpressApplication): Promise<string> {
  return (await app.getUrl()).replace('[::1]', '127.0.0.1');
}

/** Polls `condition` until it holds (a generous deadline, so that only a real hang fails). */
export async function waitFor(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A streamed answer whose upstream was cut: it ends with `[DONE]`, after either a whole answer (the cut came before
 * the answer started and the attempt was retried) or an in-band upstream error in OpenAI's shape (it came after).
 */
export function expectCutStreamEnded(body: string): void {
  const data = sseData(body);
  expect(data.at(-1)).toBe('[DONE]');
  const last = JSON.parse(data.at(-2)!) as { error?: unknown; choices?: { finish_reason: string }[] };
  if (last.error) {
    expect(last).toEqual({ error: { message: expect.any(String), type: 'upstream_error', param: null, code: expect.any(String) } });
  } else {
    expect(last.choices?.[0].finish_reason).toBe('stop');
  }
}

/** Reads a raw SSE body into its `data:` payloads. */
export function sseData(body: string): string[] {
  return body
    .split('\n\n')
    .filter((block) => block.startsWith('data: '))
    .map((block) => block.slice('data: '.length));
}
