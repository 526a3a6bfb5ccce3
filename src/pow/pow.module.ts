import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { BuildInfoService } from './build-info.service';
import { PowWorkerPool } from './pow-worker-pool';
import { SentinelService } from './sentinel.service';

@Module({
  providers: [
    {
      provide: PowWorkerPool,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => new PowWorkerPool(config.powWorkers > 0 ? { size: config.powWorkers } : undefined),
    },
    BuildInfoService,
    SentinelService,
  ],
  exports: [SentinelService, PowWorkerPool, BuildInfoService],
})
export class PowModule {}
