import type { ModuleMetadata } from '@nestjs/common';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { configureApp } from '../http/express-app';
import { AppConfig } from '../../config/app-config';
import { loadConfig } from '../../config/load-config';
import { OpenAIExceptionFilter } from '../filters/openai-exception.filter';
import { PrefixGuessThrottle } from '../http/prefix-guess.throttle';
import { RequestBodyReader } from '../http/request-body';
import { createValidationPipe } from '../pipes/validation';
import { createSharedState, SharedState } from '../shared-state/shared-state';

/**
 * A controller under test, served over HTTP the way the real app serves it: the global exception filter and
 * validation pipe that `AppModule` registers, and the Express setup of `configureApp` (body limits and parse
 * errors, API_PREFIX routing, cookies). Only the controllers and providers given are in the module, so the
 * services behind the controller are whatever fakes the spec passes; nothing talks to an upstream.
 *
 * `env` is the configuration, as environment variables (nothing is read from `process.env` or `.env`).
 */
export async function createControllerApp(metadata: ModuleMetadata, env: Record<string, string> = {}): Promise<NestExpressApplication> {
  const moduleRef = await Test.createTestingModule({
    ...metadata,
    providers: [
      // DATA_DIR of this test process, never the working directory's `data/` (the admin signing key is made there).
      { provide: AppConfig, useValue: loadConfig({ DATA_DIR: join(tmpdir(), `flowgpt-controller-spec-${process.pid}`), ...env }) },
      // Without Redis, nothing is kept in files: a controller test has no DATA_DIR of its own.
      {
        provide: SharedState,
        inject: [AppConfig],
        useFactory: (config: AppConfig) => (config.redisUrl ? createSharedState(config) : new SharedState(null, config.redisPrefix)),
      },
      PrefixGuessThrottle,
      RequestBodyReader,
      { provide: APP_FILTER, useClass: OpenAIExceptionFilter },
      { provide: APP_PIPE, useFactory: createValidationPipe },
      ...(metadata.providers ?? []),
    ],
  }).compile();
  const app = configureApp(moduleRef.createNestApplication<NestExpressApplication>({ bodyParser: false, logger: false }));
  await app.init();
  return app;
}
