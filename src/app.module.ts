import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { AdminModule } from './admin/admin.module';
import { AuthModule } from './auth/auth.module';
import { ChatModule } from './chat/chat.module';
import { OpenAIExceptionFilter } from './common/filters/openai-exception.filter';
import { createValidationPipe } from './common/pipes/validation';
import { CommonModule } from './common/common.module';
import type { AppConfig } from './config/app-config';
import { AppConfigModule } from './config/app-config.module';
import { FilesModule } from './files/files.module';
import { GatewayModule } from './gateway/gateway.module';
import { LoggingModule } from './logging/logging.module';
import { MetricsModule } from './metrics/metrics.module';
import { ResponsesModule } from './responses/responses.module';
import { ImagesModule } from './images/images.module';
import { SchedulerModule } from './scheduler/scheduler.module';
import { TokenPoolModule } from './token-pool/token-pool.module';
import { UpstreamModule } from './upstream/upstream.module';

@Module({})
export class AppModule {
  /** `config` is the configuration `loadConfig` read and validated (tests load their own). */
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(config),
        CommonModule,
        UpstreamModule,
        TokenPoolModule,
        AuthModule,
        ChatModule,
        ResponsesModule,
        ImagesModule,
        FilesModule,
        SchedulerModule,
        AdminModule,
        GatewayModule,
        LoggingModule,
        MetricsModule,
      ],
      providers: [
        { provide: APP_FILTER, useClass: OpenAIExceptionFilter },
        { provide: APP_PIPE, useFactory: createValidationPipe },
      ],
    };
  }
}
