import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { AppConfig } from './app-config';
import { loadConfig } from './load-config';

const CONFIG_KEY = 'app';

/**
 * Reads the environment (and `.env`) once through @nestjs/config, validates it into one typed
 * `AppConfig`, and provides that object everywhere. Inject `AppConfig` directly.
 *
 * `env` replaces `process.env` (tests boot the app with their own variables and no `.env`).
 */
@Global()
@Module({})
export class AppConfigModule {
  static forRoot(env?: Record<string, string | undefined>): DynamicModule {
    return {
      module: AppConfigModule,
      imports: [
        ConfigModule.forRoot({
          ignoreEnvFile: env !== undefined,
          ignoreEnvVars: env !== undefined,
          load: [() => ({ [CONFIG_KEY]: loadConfig(env ?? process.env) })],
          cache: true,
        }),
      ],
      providers: [
        {
          provide: AppConfig,
          inject: [ConfigService],
          useFactory: (configService: ConfigService) => configService.getOrThrow<AppConfig>(CONFIG_KEY),
        },
      ],
      exports: [AppConfig],
    };
  }
}
