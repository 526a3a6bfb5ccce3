import type { INestApplicationContext } from '@nestjs/common';
import { createHmac } from 'node:crypto';
import { ADMIN_SESSION_COOKIE } from '../admin-session.store';
import { AdminSigningKey } from '../admin-signing-key';

/** The `Cookie` header a browser sends for a session: cookie-parser's signed format (`s:<id>.<HMAC-SHA256, base64>`). */
export async function sessionCookieFor(app: INestApplicationContext, cookieValue: string): Promise<string> {
  const mac = createHmac('sha256', await app.get(AdminSigningKey).get())
    .update(cookieValue)
    .digest('base64')
    .replace(/=+$/, '');
  return `${ADMIN_SESSION_COOKIE}=${encodeURIComponent(`s:${cookieValue}.${mac}`)}`;
}
