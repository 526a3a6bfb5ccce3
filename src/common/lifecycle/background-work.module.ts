import { Module } from '@nestjs/common';
import { BackgroundWork } from './background-work';

/** One `BackgroundWork` per process, for the pool and scheduler that track their renewals and the shutdown that waits for them. */
@Module({
  providers: [BackgroundWork],
  exports: [BackgroundWork],
})
export class BackgroundWorkModule {}
