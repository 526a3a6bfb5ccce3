import { Global, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { PrefixGuessThrottle } from './http/prefix-guess.throttle';
import { SharedStateModule } from './shared-state/shared-state.module';
import { GracefulShutdown } from './lifecycle/graceful-shutdown.service';
import { OpenStreams } from './lifecycle/open-streams.registry';
import { BodyParsingInterceptor, RequestBodyReader } from './http/request-body';

/** Process-wide helpers several modules and the Express middleware share. */
@Global()
@Module({
  imports: [SharedStateModule],
  providers: [
    PrefixGuessThrottle,
    OpenStreams,
    GracefulShutdown,
    RequestBodyReader,
    { provide: APP_INTERCEPTOR, useClass: BodyParsingInterceptor },
  ],
  exports: [PrefixGuessThrottle, OpenStreams, GracefulShutdown, RequestBodyReader, SharedStateModule],
})
export class CommonModule {}
