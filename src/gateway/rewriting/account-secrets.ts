import type { BrowserAccount, BrowserSession } from '../../auth/browser-session';
import { TextRewriter } from './text-rewriter';

/** Shorter identifiers would match inside unrelated words of a bundle; they are left to the seed scrubber. */
const MIN_IDENTIFIER_LENGTH = 5;

/**
 * What the browser must never see of the account it runs as: the real AccessToken (replaced by this session's
 * stand-in, which the proxy swaps back server-side), the SessionToken, and for a shared (seed) user the account's
 * email, name, ids and phone, replaced by neutral values.
 */
export function accountSecretsRewriter(session: BrowserSession, account: BrowserAccount): TextRewriter {
  const pairs: Array<[string, string]> = [[account.accessToken, session.standInToken]];
  if (account.sessionToken) pairs.push([account.sessionToken, 'flowgpt-redacted']);
  if (session.kind === 'seed') {
    for (const identifier of account.privateIdentifiers) {
      if (identifier.length >= MIN_IDENTIFIER_LENGTH) pairs.push([identifier, neutralValueFor(identifier)]);
    }
  }
  return new TextRewriter(pairs);
}

/** A value of the same kind, so that the page still parses and looks sensible. */
export function neutralValueFor(identifier: string): string {
  if (identifier.includes('@')) return 'user@flowgpt.invalid';
  if (identifier.startsWith('user-')) return 'user-flowgpt';
  if (/^\+?[\d\s-]+$/.test(identifier)) return '+10000000000';
  if (/^[0-9a-f-]{36}$/i.test(identifier)) return '00000000-0000-4000-8000-000000000000';
  return 'FlowGPT User';
}
