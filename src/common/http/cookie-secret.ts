import type { INestApplicationContext } from '@nestjs/common';

/** The secret that signs cookies (`response.cookie(..., { signed: true })`, read back from `request.signedCookies`). */
export const COOKIE_SECRET = Symbol('COOKIE_SECRET');

/** The app's cookie secret, or undefined when no module provides one (no admin, or a test module without it). */
export function cookieSecretOf(app: INestApplicationContext): string | undefined {
  try {
    return app.get<string | null>(COOKIE_SECRET, { strict: false }) ?? undefined;
  } catch {
    return undefined;
  }
}
