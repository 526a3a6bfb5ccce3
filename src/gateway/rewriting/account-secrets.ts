import type { BrowserAccount, BrowserSession } from '../../auth/browser-session';
import { TextRewriter } from './text-rewriter';

/** Shorter identifiers would match inside unrelated words of a bundle (see `identifierPairs`). */
const MIN_IDENTIFIER_LENGTH = 5;
/** A one-character string value is too common to be taken for a name. */
const MIN_QUOTED_IDENTIFIER_LENGTH = 2;
const NEUTRAL_NAME = 'FlowGPT User';

/**
 * What the browser must never see of the account it runs as: the real AccessToken (replaced by this session's
 * stand-in, which the proxy swaps back server-side), the SessionToken, and for a shared (seed) user the account's
 * email, name, ids and phone, replaced by neutral values.
 */
export function accountSecretsRewriter(session: BrowserSession, account: BrowserAccount): TextRewriter {
  const pairs: Array<[string, string]> = [[account.accessToken, session.standInToken]];
  if (account.sessionToken) pairs.push([account.sessionToken, 'flowgpt-redacted']);
  if (session.kind === 'seed') pairs.push(...identifierPairs(account.privateIdentifiers));
  return new TextRewriter(pairs);
}

/**
 * What each identifier becomes in a page or a bundle. A one-word name (a person's, a workspace's: "Kim", "default",
 * "script") would match inside unrelated words, tags and code, so it is replaced only where it is a whole string value: quoted,
 * as it stands in JSON and in the turbo-stream context (raw, or escaped inside the script that enqueues it). An email,
 * id, phone or picture is found anywhere, also as a URL spells it (`login_hint=kim%40example.com` in a link).
 */
export function identifierPairs(identifiers: readonly string[]): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const identifier of identifiers) {
    const neutral = neutralValueFor(identifier);
    if (identifier.length >= MIN_IDENTIFIER_LENGTH && !isName(identifier, neutral))
      pairs.push([identifier, neutral], [encodeURIComponent(identifier), encodeURIComponent(neutral)]);
    else if (identifier.length >= MIN_QUOTED_IDENTIFIER_LENGTH) {
      const quoted = JSON.stringify(identifier);
      const neutralQuoted = JSON.stringify(neutral);
      pairs.push([quoted, neutralQuoted], [JSON.stringify(quoted).slice(1, -1), JSON.stringify(neutralQuoted).slice(1, -1)]);
    }
  }
  return pairs;
}

/**
 * Whether an identifier is a name that may be a word of code, rather than an email, id, phone or picture: one that
 * has no neutral value of its own kind and is spelt as a JavaScript identifier ("script", "default", "Kim"). A name
 * with a space, a dot or a digit in it ("Kim Lee", "pool.owner") cannot be a word of a bundle, so it is found
 * anywhere, inside other text too ("Hi Kim Lee").
 */
function isName(identifier: string, neutral: string): boolean {
  return neutral === NEUTRAL_NAME && /^[A-Za-z_$][A-Za-z_$]*$/.test(identifier);
}

/** A value of the same kind, so that the page still parses and looks sensible. */
export function neutralValueFor(identifier: string): string {
  // A picture: none (the web app shows initials); its Gravatar hash: one that names nobody.
  if (/^https?:\/\//i.test(identifier)) return '';
  if (/^[0-9a-f]{32}$/i.test(identifier)) return '0'.repeat(32);
  if (identifier.includes('@')) return 'user@flowgpt.invalid';
  if (identifier.startsWith('user-')) return 'user-flowgpt';
  if (/^\+?[\d\s-]+$/.test(identifier)) return '+10000000000';
  if (/^[0-9a-f-]{36}$/i.test(identifier)) return '00000000-0000-4000-8000-000000000000';
  return NEUTRAL_NAME;
}
