import { Global, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { PrefixGuessThrottle } from './http/prefix-guess.throttle';
import { BodyParsingInterceptor, RequestBodyReader } from './http/request-body';

/** Process-wide helpers several modules and the Express middleware share. */
@Global()
@Module({
  providers: [PrefixGuessThrottle, RequestBodyReader, { provide: APP_INTERCEPTOR, useClass: BodyParsingInterceptor }],
  exports: [PrefixGuessThrottle, RequestBodyReader],
})
export class CommonModule {}
