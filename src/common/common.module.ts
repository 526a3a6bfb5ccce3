import { Global, Module } from '@nestjs/common';
import { PrefixGuessThrottle } from './http/prefix-guess.throttle';

/** Process-wide helpers several modules and the Express middleware share. */
@Global()
@Module({ providers: [PrefixGuessThrottle], exports: [PrefixGuessThrottle] })
export class CommonModule {}
