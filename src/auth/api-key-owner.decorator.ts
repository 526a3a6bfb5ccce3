import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { createHash } from 'node:crypto';
import { readApiKey } from './api-credential';

/**
 * Who owns what a request stores: a SHA-256 digest of its API key, so that stored responses and uploaded files are scoped per key
 * without keeping the key itself. Used after ApiAuthenticated(), which has already refused a missing key.
 */
export const ApiKeyOwner = createParamDecorator((_data: unknown, context: ExecutionContext): string => {
  const key = readApiKey(context.switchToHttp().getRequest<Request>()) ?? '';
  return createHash('sha256').update(key).digest('hex');
});
