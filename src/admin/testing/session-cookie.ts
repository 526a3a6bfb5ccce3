import { ADMIN_SESSION_COOKIE } from '../admin-session.store';

/** The `Cookie` header a browser sends for a session, from the cookie value `AdminSessionStore.create` made. */
export function sessionCookieFor(cookieValue: string): string {
  return `${ADMIN_SESSION_COOKIE}=${encodeURIComponent(cookieValue)}`;
}
