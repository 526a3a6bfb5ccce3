import { Global, Module } from '@nestjs/common';
import { PrefixGuessThrottle } from './http/prefix-guess.throttle';
import { SharedStateModule } from './shared-state/shared-state.module';

/** Process-wide helpers several modules and the Express middleware share. */
@Global()
@Module({ imports: [SharedStateModule], providers: [PrefixGuessThrottle], exports: [PrefixGuessThrottle, SharedStateModule] })
export class CommonModule {}
