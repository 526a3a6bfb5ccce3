import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { AppConfig } from './app-config';

const CONFIG_KEY = 'app';

/**
 * Provides the one configuration, already read and validated by `loadConfig` before Nest boots, everywhere:
 * inject `AppConfig` (or read it from @nestjs/config's `ConfigService` under `app`). Nothing here reads
 * `.env` or the process environment again.
 */
@Global()
@Module({})
export class AppConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppConfigModule,
      imports: [ConfigModule.forRoot({ ignoreEnvFile: true, ignoreEnvVars: true, load: [() => ({ [CONFIG_KEY]: config })], cache: true })],
      providers: [{ provide: AppConfig, useValue: config }],
      exports: [AppConfig],
    };
  }
}
