import { Module } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { createSharedState, SharedState } from './shared-state';

/** One `SharedState` (and so one Redis connection) per process, for every module that imports this. */
@Module({
  providers: [{ provide: SharedState, inject: [AppConfig], useFactory: createSharedState }],
  exports: [SharedState],
})
export class SharedStateModule {}
