import { Global, Module } from '@nestjs/common';
import { PrefixGuessThrottle } from './http/prefix-guess.throttle';
import { GracefulShutdown } from './lifecycle/graceful-shutdown.service';
import { OpenStreams } from './lifecycle/open-streams.registry';

/** Process-wide helpers several modules and the Express middleware share. */
@Global()
@Module({ providers: [PrefixGuessThrottle, OpenStreams, GracefulShutdown], exports: [PrefixGuessThrottle, OpenStreams, GracefulShutdown] })
export class CommonModule {}
