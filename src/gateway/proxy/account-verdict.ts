import type { IncomingHttpHeaders } from 'node:http';
import type { AccountOutcome } from '../../common/vocabulary/account-outcome';
import { namesAccountOut, upstreamFailure } from '../../upstream/upstream-failure';

/** The conversation and the sentinel before it, as the chat path calls them. */
const CONVERSATION_CALLS = String.raw`(?:f\/)?conversation|sentinel\/chat-requirements(?:\/prepare|\/finalize)?`;

/**
 * The calls whose 429 is the account's limit (its messages), as on the chat path: the conversation and the sentinel
 * before it. The web app makes many other calls, and a 429 on one of those is that endpoint's own throttle.
 */
const LIMITED_BY_THE_ACCOUNT = new RegExp(String.raw`^\/backend-(?:api|alt)\/(?:${CONVERSATION_CALLS})$`);

/**
 * The calls about the account itself, whose 401 or 403 is its verdict: its profile, models and account check, and the
 * conversation and its sentinel, which the chat path judges the same way. A seed may call any other path, where a 401
 * or a 403 saying "suspended" or "deactivated" may be about what the call touched (a GPT whose builder was suspended,
 * connectors a workspace admin deactivated, a third party's expired link), and the pool account is shared.
 */
const ABOUT_THE_ACCOUNT = new RegExp(String.raw`^\/backend-(?:api|alt)\/(?:me|models|accounts\/check(?:\/[^/]+)?|${CONVERSATION_CALLS})$`);

/** Whether an answer on this path may be the upstream's verdict on the account itself, so its body is worth reading. */
export function mayJudgeAccount(path: string, status: number): boolean {
  if (status === 401 || status === 403) return true;
  return status === 429 && LIMITED_BY_THE_ACCOUNT.test(path.split('?')[0]);
}

/**
 * What a gateway call's answer says about the pool account it ran as, read as the chat path reads it
 * (`upstreamFailure`): 401 the AccessToken refused, 403 naming the account deactivated or banned, 429 its limit.
 * A 401 or 403 counts on the account's own calls (`ABOUT_THE_ACCOUNT`), elsewhere only with a detail code naming the
 * account out of service (`namesAccountOut`). Null for anything else: a 403 about the request (a feature the plan
 * lacks, a Cloudflare challenge).
 */
export function accountVerdict(path: string, status: number, headers: IncomingHttpHeaders, body: Buffer): AccountOutcome | null {
  if (!mayJudgeAccount(path, status)) return null;
  const ownCall = ABOUT_THE_ACCOUNT.test(path.split('?')[0]);
  if ((status === 401 || status === 403) && !ownCall && !namesAccountOut(body)) return null;
  return upstreamFailure('gateway', status, headers, body).accountOutcome;
}
