import { randomUUID } from 'node:crypto';
import type { BrowserFingerprint } from './fingerprint';
import type { WebAppRelease } from './web-app-defaults';

/** Who the headers are for, and the few settings that shape them. */
export interface WebAppProfileInput {
  baseUrl: string;
  fingerprint: BrowserFingerprint;
  accessToken?: string;
  chatgptAccountId?: string;
  /** `OAI_LANGUAGE`. */
  language: string;
  /** `AUTH_KEY`, for a private relay. */
  authKey?: string;
}

/**
 * The headers every call to the upstream carries, as the web app sends them (upstream-protocol.md §2.1): the
 * browser's own (user agent and its `sec-ch-ua` family, from the account's fingerprint), `oai-language`,
 * the account's stable `oai-device-id`, the bearer and the Team workspace.
 */
export function browserHeaders(input: WebAppProfileInput): Record<string, string> {
  const { fingerprint, baseUrl } = input;
  const headers: Record<string, string> = {
    accept: '*/*',
    'accept-encoding': 'gzip, deflate, br',
    'accept-language': 'en-US,en;q=0.9',
    'oai-language': input.language,
    'oai-device-id': fingerprint.deviceId,
    origin: baseUrl,
    referer: `${baseUrl}/`,
    priority: 'u=1, i',
    'sec-fetch-dest': 'empty',
    'sec-fetch-mode': 'cors',
    'sec-fetch-site': 'same-origin',
    'user-agent': fingerprint.userAgent,
  };
  if (fingerprint.clientHints) {
    headers['sec-ch-ua'] = fingerprint.clientHints.secChUa;
    headers['sec-ch-ua-mobile'] = fingerprint.clientHints.secChUaMobile;
    headers['sec-ch-ua-platform'] = fingerprint.clientHints.secChUaPlatform;
  }
  if (input.accessToken) headers.authorization = `Bearer ${input.accessToken}`;
  if (input.chatgptAccountId) headers['chatgpt-account-id'] = input.chatgptAccountId;
  if (input.authKey) headers.authkey = input.authKey;
  return headers;
}

/** One turn of the new send flow: what its requests share beyond the browser headers. */
export interface WebAppTurn {
  release: WebAppRelease;
  /** `x-oai-turn-trace-id`: one id for every request of a turn. */
  traceId: string;
  /** When the turn started (ms), for `oai-echo-logs`. */
  startedAt: number;
}

export function newTurn(release: WebAppRelease, now: number): WebAppTurn {
  return { release, traceId: randomUUID(), startedAt: now };
}

/**
 * The headers the web app adds to every call of a turn in the new send flow (`gateway-live-ui.md` §4): its
 * release and the turn's trace id; on the conversation calls also the route they target (`targetPath`) and
 * `oai-echo-logs`, in the shape seen in public captures (event number, milliseconds since the turn began;
 * assumed). `OAI-Telemetry` is not sent: its shape is unknown.
 */
export function webAppTurnHeaders(turn: WebAppTurn, now: number, targetPath?: string): Record<string, string> {
  const headers: Record<string, string> = {
    'oai-client-version': turn.release.clientVersion,
    'oai-client-build-number': turn.release.clientBuildNumber,
    'x-oai-turn-trace-id': turn.traceId,
  };
  if (targetPath) {
    headers['x-openai-target-path'] = targetPath;
    headers['x-openai-target-route'] = targetPath;
    headers['oai-echo-logs'] = `0,${Math.max(0, now - turn.startedAt)}`;
  }
  return headers;
}
