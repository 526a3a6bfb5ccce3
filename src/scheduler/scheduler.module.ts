import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { BackgroundWorkModule } from '../common/lifecycle/background-work.module';
import { TokenPoolModule } from '../token-pool/token-pool.module';
import { TokenRefreshScheduler } from './token-refresh.scheduler';

/** Cron jobs. `ScheduleModule.forRoot()` lives here: import this module, not ScheduleModule, in the app. */
@Module({
  imports: [ScheduleModule.forRoot(), TokenPoolModule, BackgroundWorkModule],
  providers: [TokenRefreshScheduler],
  exports: [TokenRefreshScheduler],
})
export class SchedulerModule {}
