import { Global, Module } from '@nestjs/common';
import { PrefixGuessThrottle } from './http/prefix-guess.throttle';
import { SharedStateModule } from './shared-state/shared-state.module';
import { BackgroundWorkModule } from './lifecycle/background-work.module';
import { GracefulShutdown } from './lifecycle/graceful-shutdown.service';
import { InFlightRequests } from './lifecycle/in-flight-requests';
import { OpenStreams } from './lifecycle/open-streams.registry';
import { RequestBodyReader } from './http/request-body';

/** Process-wide helpers several modules and the Express middleware share. */
@Global()
@Module({
  imports: [SharedStateModule, BackgroundWorkModule],
  providers: [PrefixGuessThrottle, InFlightRequests, OpenStreams, GracefulShutdown, RequestBodyReader],
  exports: [PrefixGuessThrottle, OpenStreams, GracefulShutdown, RequestBodyReader, SharedStateModule],
})
export class CommonModule {}
