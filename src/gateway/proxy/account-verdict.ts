import type { IncomingHttpHeaders } from 'node:http';
import type { AccountOutcome } from '../../common/vocabulary/account-outcome';
import { upstreamFailure } from '../../upstream/upstream-failure';

/**
 * The calls whose 429 is the account's limit (its messages), as on the chat path: the conversation and the sentinel
 * before it. The web app makes many other calls, and a 429 on one of those is that endpoint's own throttle.
 */
const LIMITED_BY_THE_ACCOUNT = /^\/backend-(?:api|alt)\/(?:(?:f\/)?conversation|sentinel\/chat-requirements(?:\/prepare|\/finalize)?)$/;

/** Whether an answer on this path may be the upstream's verdict on the account itself, so its body is worth reading. */
export function mayJudgeAccount(path: string, status: number): boolean {
  if (status === 401 || status === 403) return true;
  return status === 429 && LIMITED_BY_THE_ACCOUNT.test(path.split('?')[0]);
}

/**
 * What a gateway call's answer says about the pool account it ran as, read as the chat path reads it
 * (`upstreamFailure`): 401 the AccessToken refused, 403 naming the account deactivated or banned, 429 its limit.
 * Null for anything else: a 403 about the request (a feature the plan lacks, a Cloudflare challenge).
 */
export function accountVerdict(path: string, status: number, headers: IncomingHttpHeaders, body: Buffer): AccountOutcome | null {
  if (!mayJudgeAccount(path, status)) return null;
  return upstreamFailure('gateway', status, headers, body).accountOutcome;
}
