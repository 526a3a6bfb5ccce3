import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { TokenPoolModule } from '../token-pool/token-pool.module';
import { TokenRefreshScheduler } from './token-refresh.scheduler';

/** Cron jobs. `ScheduleModule.forRoot()` lives here: import this module, not ScheduleModule, in the app. */
@Module({
  imports: [ScheduleModule.forRoot(), TokenPoolModule],
  providers: [TokenRefreshScheduler],
  exports: [TokenRefreshScheduler],
})
export class SchedulerModule {}
