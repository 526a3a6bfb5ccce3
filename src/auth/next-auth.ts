import type { StoredBrowserSession } from './browser-session.store';

/** The sign-in providers the web app's next-auth client asks for; each leads to our own sign-in page. */
export const NEXT_AUTH_PROVIDERS = Object.fromEntries(
  [
    ['auth0', 'Auth0'],
    ['login-web', 'Auth0'],
    ['openai', 'openai'],
    ['openai-sidetron', 'openai-sidetron'],
    ['auth0-sidetron', 'Auth0'],
  ].map(([id, name]) => [id, { id, name, type: 'oauth', signinUrl: `/api/auth/signin/${id}`, callbackUrl: `/api/auth/callback/${id}` }]),
);

/** What a seed user is called: placeholders, never the shared account's name or email. */
const SEED_USER_NAME = 'FlowGPT user';
const PLACEHOLDER_EMAIL_DOMAIN = 'users.flowgpt.invalid';

/**
 * `GET /api/auth/session` for a signed-in browser, in next-auth's shape. `accessToken` is the session's
 * stand-in, which the proxy swaps for the real AccessToken server-side. A seed user gets a placeholder
 * user built from the seed's public id; an owner their own email and user id (from their token's claims).
 */
export function nextAuthSession(session: StoredBrowserSession): Record<string, unknown> {
  const isSeed = session.kind === 'seed';
  const id = isSeed ? `user-${session.seedId}` : (session.userId ?? `user-${session.ownerKey}`);
  const email = isSeed
    ? `${session.seedId}@${PLACEHOLDER_EMAIL_DOMAIN}`
    : (session.email ?? `${session.ownerKey}@${PLACEHOLDER_EMAIL_DOMAIN}`);
  return {
    user: {
      id,
      name: isSeed ? SEED_USER_NAME : (session.email ?? SEED_USER_NAME),
      email,
      image: null,
      picture: null,
      idp: 'auth0',
      iat: Math.floor(session.createdAt / 1000),
      mfa: false,
      groups: [],
      intercom_hash: '',
    },
    expires: new Date(session.expiresAt).toISOString(),
    accessToken: session.standInToken,
    authProvider: 'auth0',
  };
}
